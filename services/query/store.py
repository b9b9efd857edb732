"""The store adapter: reads the current snapshot with one in-memory DuckDB per process.

Every call takes a fresh DuckDB cursor (one per request and thread). Results are read with
constant predicates on (agent, run) over only the files whose Delta stats can hold that run,
so DuckDB skips the other row groups by their min/max; runs lists and agents are served from
the ``runs`` table materialised per Delta version (``catalog``).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from services.common.sqltext import sql_literal as lit
from services.query.catalog import Snapshot, SnapshotLoader
from services.query.core.params import ResultFilter, RunFilter
from services.query.core.runindex import sort_key

RESULT_COLUMNS = ("result_id, scenario_id, description, complexity, target_failure, status, severity, "
                  "failure_category, failure_subtype, reason, user_message, tool_sequence")  # fmt: skip
CASE_COLUMNS = "* EXCLUDE (synced_at), epoch_us(synced_at) AS synced_us"
COMPARE_COLUMNS = "run, result_id, scenario_id, description, status, failure_category, severity, reason"
EXPORT_COLUMNS = (
    "agent AS agent_name, run AS test_run_id, result_id, scenario_id, description, complexity, target_failure, "
    "status, severity, failure_category, failure_subtype, reason, user_message, {tools} AS tools_called, "
    "expected_behavior, agent_response, cost_usd, duration_ms, input_tokens, output_tokens, "
    "strftime(synced_at, '%Y-%m-%dT%H:%M:%S.%gZ') AS synced_at, algorithm_version"
)
EXPORT_NAMES = ("agent_name", "test_run_id", "result_id", "scenario_id", "description", "complexity", "target_failure",
                "status", "severity", "failure_category", "failure_subtype", "reason", "user_message", "tools_called",
                "expected_behavior", "agent_response", "cost_usd", "duration_ms", "input_tokens", "output_tokens",
                "synced_at", "algorithm_version")  # fmt: skip

log = logging.getLogger("invarium.query")


WATCH_S = 0.05  # how often the snapshot watcher looks for new run stats
WARM_S = 10.0  # it looks only while reads came within this long


class Store:
    def __init__(self, data_dir: Path, *, threads: int = 2, memory_limit: str = "512MB", refresh_s: float = 0.1) -> None:
        # Parquet footers parsed once and kept (a 10M-result table's are ~0.7 MB each). GLOBAL: a
        # plain SET would only reach this connection, not the per-request cursors.
        self._db = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": memory_limit})
        self._db.execute("SET GLOBAL parquet_metadata_cache = true")
        self._loader = SnapshotLoader(data_dir)
        self._snap = Snapshot()
        self._refresh_s = refresh_s
        self._checked = -1e9
        self._lock = threading.Lock()
        self._read_at = -1e9
        self._closed = False
        self._watcher: threading.Thread | None = None

    def close(self) -> None:
        self._closed = True
        self._db.close()

    # -- snapshot ------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current snapshot, re-checked against the Delta logs at most every ``refresh_s``.

        Under steady reads a stale snapshot is refreshed in the background while readers go on
        with the one they have (at most ~1 s old): a load under ingest takes ~50-100 ms here (a
        rebuild of the runs index, after a compaction, ~75 ms at 10,000 runs), which must not land
        on requests. The first read, a read after an idle spell, and ``refresh_s`` 0 wait for the load."""
        self._read_at = time.monotonic()
        if self._watcher is None and self._refresh_s:
            self._watcher = threading.Thread(target=self._watch, name="snapshot-watch", daemon=True)
            self._watcher.start()
        age = time.monotonic() - self._checked
        if age < self._refresh_s:
            return self._snap
        if age > max(4 * self._refresh_s, 1.0) or not self._refresh_s:
            # first read, after an idle spell, or refresh_s 0 (always current): wait for the load
            with self._lock:
                if time.monotonic() - self._checked >= self._refresh_s:
                    self._refresh()
            return self._snap
        if self._lock.acquire(blocking=False):  # one refresher at a time; the others don't wait
            threading.Thread(target=self._refresh_and_release, name="snapshot-refresh", daemon=True).start()
        return self._snap

    def _refresh(self) -> None:
        t0 = time.perf_counter()
        # checked as of the start: the next check is due refresh_s after this one began, not after
        # it ended (a load under ingest takes ~100-300 ms here; counting from its end made a
        # commit wait up to refresh_s + a load for the check that sees it)
        self._checked = time.monotonic()
        cur = self._db.cursor()
        try:
            old, self._snap = self._snap, self._loader.load(self._snap, cur)
        finally:
            cur.close()
        if self._snap is not old:
            log.debug("snapshot %s %s loaded in %.0f ms (%d runs)", self._snap.generation, self._snap.versions,
                      (time.perf_counter() - t0) * 1e3, len(self._snap.runs))  # fmt: skip

    def _watch(self) -> None:
        """While the runs are read (a read in the last ``WARM_S``), load a snapshot as soon as the run
        stats move on (polled every ``WATCH_S``: a stat call), at most every ``refresh_s``: a commit is
        in the runs list a load after it lands, not a read, a ``refresh_s`` and a load after. With
        nobody reading, loads wait for the next read, as before."""
        while not self._closed:
            time.sleep(WATCH_S)
            now = time.monotonic()
            if now - self._read_at > WARM_S or now - self._checked < self._refresh_s:
                continue
            if not self._lock.acquire(blocking=False):
                continue  # a load is running
            try:
                if not self._closed and self._loader.stats_changed():
                    self._refresh()
            except Exception:  # noqa: BLE001 - readers keep the last good snapshot; the next turn retries
                log.exception("snapshot refresh failed")
            finally:
                self._lock.release()

    def _refresh_and_release(self) -> None:
        try:
            self._refresh()
        except Exception:  # noqa: BLE001 - readers keep the last good snapshot; the next read retries
            log.exception("snapshot refresh failed")
        finally:
            self._lock.release()

    def _sql(self, sql: str, params: dict | list | None = None) -> pa.Table:
        cur = self._db.cursor()
        try:
            return cur.sql(sql, params=params or None).to_arrow_table()
        finally:
            cur.close()

    # -- runs ----------------------------------------------------------------------
    def runs_page(self, f: RunFilter, limit: int, offset: int, after: tuple | None,
                  gone: frozenset[tuple[str, str]]) -> tuple[list[dict], int, int]:  # fmt: skip
        """(rows, total matching, position of the first row) — newest first. A vectorised mask over
        the cached runs: microseconds at 10,000 runs, whatever the page depth."""
        snap = self.snapshot()
        ix = snap.index
        mask = np.ones(len(ix.rows), bool)
        if f.agents:
            mask &= np.isin(ix.agent, [ix.agent_codes.get(a, -1) for a in f.agents])
        if f.sources:
            mask &= np.isin(ix.source, [ix.source_codes.get(s, -1) for s in f.sources])
        if f.since_us is not None:
            mask &= ix.date_us >= f.since_us
        if f.until_us is not None:
            mask &= ix.date_us <= f.until_us
        if f.status == "has_failures":
            mask &= ix.failing
        elif f.status == "all_passed":
            mask &= ix.all_passed
        hidden = [i for p in gone - snap.tombstones
                  if (row := snap.runs.get(p)) is not None and (i := ix.find(sort_key(row))) is not None]
        mask[hidden] = False
        selected = np.flatnonzero(mask)
        if after is not None:  # the first row after the cursor's key, even if that row is gone since
            start = int(np.searchsorted(selected, bisect.bisect_right(ix.keys, (-after[0], after[1], after[2]))))
        else:
            start = offset
        rows = [ix.rows[i] for i in selected[start:start + limit]]
        return rows, len(selected), start + 1

    def run(self, agent: str, run: str) -> dict | None:
        return self.snapshot().runs.get((agent, run))

    def agent_runs(self, agent: str) -> list[dict]:
        return self.snapshot().index.of_agent(agent)

    def agents(self) -> list[str]:
        return list(self.snapshot().index.agents)

    def agents_of_run(self, run: str) -> list[str]:
        return self.snapshot().by_run_id.get(run, [])

    def tombstoned(self, agent: str, run: str) -> bool:
        return (agent, run) in self.snapshot().tombstones

    # -- results -------------------------------------------------------------------
    def _files(self, pairs: list[tuple[str, str]]) -> list[str]:
        return self.snapshot().results.for_runs(pairs)

    def results_page(self, agent: str, run: str, f: ResultFilter, limit: int, offset: int,
                     after: str | None) -> tuple[list[dict], int, int]:  # fmt: skip
        """Scored results of one run in result-id order: (rows, total matching, position of the first row)."""
        files = self._files([(agent, run)])
        if not files:
            return [], 0, 0
        where, params = [f"agent = {lit(agent)}", f"run = {lit(run)}"], {"files": files}
        if f.status:
            where.append(f"status = {lit(f.status)}")
        if f.category == "other":
            where.append("status = 'failed' AND coalesce(failure_category, '') NOT IN ('tool_usage', 'knowledge', 'safety')")
        elif f.category:
            where.append(f"failure_category = {lit(f.category)}")
        if f.severity:
            where.append(f"severity = {lit(f.severity)}")
        if f.text:
            where.append("contains(lower(user_message), lower($q))")
            params["q"] = f.text
        # Two light steps instead of a window over every matching row: the matching ids (one
        # cheap column, in order: total and position for free), then the page's rows by id.
        ids = self._sql(f"SELECT result_id FROM read_parquet($files) WHERE {' AND '.join(where)} ORDER BY result_id",
                        params)["result_id"].to_pylist()  # fmt: skip
        start = bisect.bisect_right(ids, after) if after is not None else offset
        wanted = ids[start:start + limit]
        if not wanted:
            return [], len(ids), start + 1
        rows = self._sql(f"SELECT {RESULT_COLUMNS} FROM read_parquet($files) WHERE agent = {lit(agent)} AND run = {lit(run)} "
                         f"AND result_id IN ({', '.join(lit(i) for i in wanted)}) ORDER BY result_id",
                         {"files": files}).to_pylist()  # fmt: skip
        return rows, len(ids), start + 1

    def scored_ids(self, agent: str, run: str) -> set[str]:
        files = self._files([(agent, run)])
        if not files:
            return set()
        t = self._sql(f"SELECT result_id FROM read_parquet($files) WHERE agent = {lit(agent)} AND run = {lit(run)}",
                      {"files": files})  # fmt: skip
        return set(t["result_id"].to_pylist())

    def unknown_cost_calls(self, agent: str, run: str) -> int:
        """The run's LLM calls whose model has no known price (its cost estimate leaves them out)."""
        files = self._files([(agent, run)])
        if not files:
            return 0
        t = self._sql(f"SELECT coalesce(sum(n), 0) AS n FROM (SELECT any_value(len(llm_costs) - "
                      f"list_aggregate(llm_costs, 'count')) AS n FROM read_parquet($files) WHERE agent = {lit(agent)} "
                      f"AND run = {lit(run)} GROUP BY result_id)", {"files": files})  # fmt: skip
        return int(t["n"][0].as_py() or 0)

    def case(self, agent: str, run: str, result_id: str) -> dict | None:
        files = self._files([(agent, run)])
        if not files:
            return None
        rows = self._sql(f"SELECT {CASE_COLUMNS} FROM read_parquet($files) WHERE agent = {lit(agent)} AND run = {lit(run)} "
                         f"AND result_id = {lit(result_id)} LIMIT 1", {"files": files}).to_pylist()  # fmt: skip
        return rows[0] if rows else None

    def compare_cases(self, agent: str, base: str, head: str) -> tuple[list[dict], list[dict]]:
        files = self._files([(agent, base), (agent, head)])
        if not files:
            return [], []
        rows = self._sql(f"SELECT {COMPARE_COLUMNS} FROM read_parquet($files) WHERE agent = {lit(agent)} "
                         f"AND run IN ({lit(base)}, {lit(head)})", {"files": files}).to_pylist()  # fmt: skip
        return [r for r in rows if r["run"] == base], [r for r in rows if r["run"] == head]

    def export_batches(self, pairs: list[tuple[str, str]], fmt: str, batch_rows: int = 2048) -> Iterator[pa.RecordBatch]:
        """Every result of ``pairs``, run by run in result-id order, as record batches: constant memory."""
        tools = "array_to_string(tool_sequence, ';')" if fmt == "csv" else "tool_sequence"
        cols = EXPORT_COLUMNS.format(tools=tools)
        for agent, run in pairs:
            files = self._files([(agent, run)])
            if not files:
                continue
            cur = self._db.cursor()
            try:
                reader = cur.sql(f"SELECT {cols} FROM read_parquet($files) WHERE agent = {lit(agent)} AND run = {lit(run)} "
                                 "ORDER BY result_id", params={"files": files}).to_arrow_reader(batch_rows)  # fmt: skip
                yield from reader
            finally:
                cur.close()
