"""A small real store, built through the scorer's write path (project + Tables.apply)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from services.common import streams
from services.ingest.core import envelope
from services.scorer.core.pricing import default_price_table
from services.scorer.core.project import Entry, project
from services.scorer.tables import Tables
from tests.factories import make_result

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def case(i: int, *, ok: bool = True, scenario: str | None = None, message: str | None = None) -> dict:
    """A result the classifier passes (expected tools called) or fails (a forbidden tool: safety, critical)."""
    r = make_result(i)
    names = list(r["expected_tools"]) + ([] if ok else ["delete_account"])
    r["tools_called"] = [{"name": n, "arguments": {"n": k}, "result": "ok", "duration_ms": 10.0, "order": k}
                         for k, n in enumerate(names)]  # fmt: skip
    r["scenario_id"] = scenario or f"scenario-{i % 1000:03d}"
    if message:
        r["user_message"] = message
    return r


def _entry(kind: str, agent: str, run: str, at: str, payload: dict) -> Entry:
    n = next(_ids)
    return Entry(0, f"{n}-0", envelope(kind, event_id=f"ev{n}", agent=agent, run=run, at=at, payload=payload))


def run_entries(agent: str, run: str, cases: list[dict], *, at: str, source: str = "ci", complete: bool = True,
                created: bool = True, mode: str = "sync") -> list[Entry]:  # fmt: skip
    out = [_entry("RunCreated", agent, run, at, {"source": source, "mode": mode})] if created else []
    out += [_entry("ResultsSynced", agent, run, at, {"sync_id": "s", "source": source, "results": [c]}) for c in cases]
    if complete:
        out.append(_entry("RunCompleted", agent, run, at, {}))
    return out


def apply(tables: Tables, entries: list[Entry]) -> None:
    proj = project(entries, default_price_table())
    assert not proj.failures, proj.failures
    tables.apply(proj)


def mark_live(rclient, agent: str, run: str, *, state: str, accepted: int, source: str = "ci", ids=()) -> None:
    """What ingest's Lua script leaves in Redis for a run."""
    p = streams.partition_of(agent, run, 1)
    rclient.hset(streams.run_key(p, agent, run), mapping={"status": state, "accepted": accepted, "source": source})
    if ids:
        rclient.sadd(streams.result_ids_key(p, agent, run), *ids)


def build_store(data: Path, rclient=None) -> Tables:
    """a1/r1 (base, 10 cases) → a1/r2 (head: 2 regressions, 1 fix, 1 missing, 1 new) and a2/r3 (api, all
    passing), each in its own commits (so files can be pruned); a1/r4 streaming, 2 of 5 scored."""
    tables = Tables(data)
    base = [case(i, ok=i not in (3, 7)) for i in range(10)]
    head = [case(i, ok=i not in (1, 2, 7)) for i in range(9)] + [case(42)]  # 3 fixed, 1 & 2 regress, 9 missing
    head[4] = case(4, ok=True, message="Please DELETE everything now")
    apply(tables, run_entries("a1", "r1", base, at="2026-11-20T10:00:00.000Z"))
    apply(tables, run_entries("a1", "r2", head, at="2026-11-21T10:00:00.000Z", source="mcp"))
    apply(tables, run_entries("a2", "r3", [case(100 + i) for i in range(5)], at="2026-11-21T12:00:00.000Z", source="api"))
    apply(tables, run_entries("a1", "r4", [case(200), case(201)], at="2026-11-22T11:00:00.000Z", complete=False,
                              mode="streaming"))  # fmt: skip
    if rclient is None:
        return tables
    for run, n in (("r1", 10), ("r2", 10)):
        mark_live(rclient, "a1", run, state="completed", accepted=n)
    mark_live(rclient, "a2", "r3", state="completed", accepted=5, source="api")
    mark_live(rclient, "a1", "r4", state="running", accepted=5,
              ids=[f"case-{i:05d}" for i in (200, 201, 202, 203, 204)])  # fmt: skip
    return tables
