"""Query use cases: between the HTTP edge, the store (tables) and the live run state (Redis).

Store reads run in worker threads (DuckDB releases the GIL); Redis reads are awaited. The
shaping and the rules (status, pending, compare) are the pure functions of ``core``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from anyio import to_thread

from schemas.names import check_name
from services.query import export as exporter
from services.query.core import cursor, params, present
from services.query.core.compare import compare, score_change
from services.query.core.params import InvalidQuery, NotFound
from services.query.live import LiveRuns
from services.query.store import Store

_AFTER_ALL = "\U0010ffff"  # a result-id cursor beyond every id: counts without rows


def _utcnow() -> datetime:
    return datetime.now(UTC)


class QueryService:
    def __init__(self, store: Store, live: LiveRuns, base_url: str, clock: Callable[[], datetime] = _utcnow) -> None:
        self.store = store
        self.live = live
        self.base_url = base_url
        self._clock = clock

    async def _t(self, fn, *args):
        return await to_thread.run_sync(partial(fn, *args))

    # -- runs list -------------------------------------------------------------------
    async def runs(self, *, agents: Sequence[str] = (), range_: str | None = None, since: str | None = None,
                   until: str | None = None, status: str | None = None, sources: Sequence[str] = (),
                   page: int = 1, limit: int = 20, cursor_: str | None = None) -> dict[str, Any]:  # fmt: skip
        f = params.run_filter(self._clock(), agents, range_, since, until, status, sources)
        pg = params.page_of(page, limit)
        after = cursor.decode("runs", cursor_) if cursor_ else None
        rows, total, pos = await self._t(self.store.runs_page, f, pg.limit, pg.offset, after, await self.live.gone())
        lives = await self.live.runs([(r["agent"], r["run"]) for r in rows])
        out = [present.run_row(r["agent"], r["run"], r, lives[(r["agent"], r["run"])], self.base_url) for r in rows]
        more = bool(rows) and pos - 1 + len(rows) < total
        last = rows[-1] if rows else None
        return {"runs": out, "page": (pos - 1) // pg.limit + 1 if rows else pg.page, "limit": pg.limit, "total": total,
                "pages": math.ceil(total / pg.limit),
                "next_cursor": cursor.encode("runs", (last["date_us"], last["agent"], last["run"])) if more else None}  # fmt: skip

    # -- agents ----------------------------------------------------------------------
    async def _agent_views(self, names: list[str]) -> list[dict[str, Any]]:
        gone = await self.live.gone()
        views = []
        for name in names:
            runs = await self._t(self.store.agent_runs, name)
            if gone:
                runs = [r for r in runs if (name, r["run"]) not in gone]
            if runs:
                views.append(present.agent_view(name, runs))
        lives = await self.live.runs([(v["agent_name"], v["latest_run"]["test_run_id"]) for v in views])
        for v in views:
            latest = v["latest_run"]
            row = await self._t(self.store.run, v["agent_name"], latest["test_run_id"])
            latest["status"] = present.run_row(v["agent_name"], latest["test_run_id"], row,
                                               lives[(v["agent_name"], latest["test_run_id"])], self.base_url)["status"]  # fmt: skip
        return views

    async def agent_names(self) -> list[str]:
        """Every agent with a run in the tables, sorted (the runs index keeps them so)."""
        return await self._t(self.store.agents)

    async def agents(self) -> dict[str, Any]:
        return {"agents": await self._agent_views(await self._t(self.store.agents))}

    async def agent(self, name: str) -> dict[str, Any]:
        name = params.agent_name(name)
        views = await self._agent_views([name])
        if not views:
            raise NotFound(f"Agent not found: '{name}'")
        return views[0]

    # -- one run ---------------------------------------------------------------------
    async def _resolve(self, agent: str, run_id: str | None) -> tuple[str, str, dict | None, present.LiveRun]:
        """The run's table row and live state; 404s in the seed's words for unknown or deleted ones."""
        run_id = params.run_id(run_id)
        agent = params.agent_name(agent)
        try:
            check_name(run_id, "test_run_id")
        except ValueError:
            raise NotFound(f"Test run not found: '{run_id}'") from None
        live = await self.live.run(agent, run_id)
        row = await self._t(self.store.run, agent, run_id)
        if live.state == "deleted" or await self._t(self.store.tombstoned, agent, run_id):
            # the run, not the agent, is what is gone: the same answer before and after the scorer
            # projects the tombstone (which may leave the agent without runs)
            raise NotFound(f"Test run not found: '{run_id}'")
        if row is None and live.state is None:
            if not await self._t(self.store.agent_runs, agent):
                raise NotFound(f"Agent not found: '{agent}'")
            raise NotFound(f"Test run not found: '{run_id}'")
        return agent, run_id, row, live

    async def run_detail(self, agent: str, run_id: str | None, *, status: str | None = None, category: str | None = None,
                         severity: str | None = None, q: str | None = None, page: int = 1, limit: int = 20,
                         cursor_: str | None = None) -> dict[str, Any]:  # fmt: skip
        rf = params.result_filter(status, category, severity, q)
        pg = params.page_of(page, limit)
        after = cursor.decode("results", cursor_) if cursor_ else None
        agent, run_id, row, live = await self._resolve(agent, run_id)
        summary = present.summary(agent, run_id, row, live, self.base_url)
        summary["unknown_cost_calls"] = (0 if summary["cost_complete"] else
                                         await self._t(self.store.unknown_cost_calls, agent, run_id))  # fmt: skip
        pending_ids: list[str] = []
        if summary["pending"] and rf.status in (None, "pending") and not rf.only_verdicts:
            accepted = await self.live.result_ids(agent, run_id)
            pending_ids = sorted(accepted - await self._t(self.store.scored_ids, agent, run_id))
        scored_rows, scored_total, pos = [], 0, 0
        if rf.status != "pending":
            in_pending = after is not None and after[0] == 1
            scored_rows, scored_total, pos = await self._t(
                self.store.results_page, agent, run_id, rf, pg.limit, pg.offset,
                _AFTER_ALL if in_pending else (after[1] if after else None))  # fmt: skip
        rows = [present.result_row(r) for r in scored_rows]
        total = scored_total + len(pending_ids)
        if len(rows) < pg.limit and pending_ids:
            if after is not None:
                start = bisect.bisect_right(pending_ids, after[1]) if after[0] == 1 else 0
            else:
                start = max(0, pg.offset - scored_total)
            if not rows:
                pos = scored_total + start + 1
            rows += [present.pending_row(i) for i in pending_ids[start:start + pg.limit - len(rows)]]
        more = bool(rows) and pos - 1 + len(rows) < total
        next_cursor = None
        if more:
            last = rows[-1]
            next_cursor = cursor.encode("results", (1 if last["scenario_id"] is None and last["status"] == "pending" else 0,
                                                    last["result_id"]))  # fmt: skip
        return {"summary": summary, "results": rows, "page": (pos - 1) // pg.limit + 1 if rows else pg.page,
                "limit": pg.limit, "total": total, "pages": math.ceil(total / pg.limit), "next_cursor": next_cursor}  # fmt: skip

    async def case(self, agent: str, run_id: str | None, result_id: str) -> dict[str, Any]:
        agent, run_id, _, _ = await self._resolve(agent, run_id)
        row = await self._t(self.store.case, agent, run_id, result_id)
        if row is not None:
            return present.case_detail(row)
        if result_id in await self.live.result_ids(agent, run_id):
            return present.case_detail({"result_id": result_id, "status": "pending"})
        raise NotFound(f"Result not found: '{result_id}'")

    async def compare(self, agent: str, base: str | None, head: str | None) -> dict[str, Any]:
        if not base or not base.strip() or not head or not head.strip():
            raise InvalidQuery("base and head are required: the ids of two test runs of this agent")
        agent, base, base_row, base_live = await self._resolve(agent, base)
        _, head, head_row, head_live = await self._resolve(agent, head)
        base_cases, head_cases = await self._t(self.store.compare_cases, agent, base, head)
        diff = compare(base_cases, head_cases)
        sides = {}
        for key, run_id, row, live in (("base", base, base_row, base_live), ("head", head, head_row, head_live)):
            r = present.run_row(agent, run_id, row, live, self.base_url)
            sides[key] = {"test_run_id": run_id, "bss": r["bss"], "aqs": r["aqs"], "tests": r["tests"],
                          "passed": r["passed"], "failed": r["failed"], "errors": r["errors"], "status": r["status"]}  # fmt: skip
        bss_delta, bss_change = score_change(sides["base"]["bss"], sides["head"]["bss"])
        aqs_delta, aqs_change = score_change(sides["base"]["aqs"], sides["head"]["aqs"])
        return {"agent_name": agent, **sides, "bss_delta": bss_delta, "aqs_delta": aqs_delta,
                "bss_change": bss_change, "aqs_change": aqs_change, **diff}  # fmt: skip

    # -- export and delete -------------------------------------------------------------
    async def export(self, ids: Sequence[str], fmt: str | None) -> tuple[str, Iterator[bytes]]:
        runs, fmt = params.export_request(ids, fmt)
        gone = await self.live.gone()
        pairs = []
        for run_id in runs:
            agents = [a for a in await self._t(self.store.agents_of_run, run_id) if (a, run_id) not in gone]
            if not agents:
                raise NotFound(f"Test run not found: '{run_id}'")
            pairs += [(a, run_id) for a in agents]
        return exporter.MEDIA_TYPES[fmt], exporter.encode(fmt, self.store.export_batches(pairs, fmt))

    async def delete(self, agent: str, run_id: str | None) -> dict[str, Any]:
        agent, run_id, _, _ = await self._resolve(agent, run_id)
        await self.live.delete(agent, run_id)
        return {"test_run_id": run_id, "agent_name": agent, "deleted": True}
