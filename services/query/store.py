"""The store adapter: reads the current snapshot with one in-memory DuckDB per process.

Every call takes a fresh DuckDB cursor (one per request and thread). Results are read with
constant predicates on (agent, run) over only the files whose Delta stats can hold that run,
so DuckDB skips the other row groups by their min/max; runs lists and agents are served from
the ``runs`` table materialised per Delta version (``catalog``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from services.query.catalog import Snapshot, SnapshotLoader
from services.query.core.params import ResultFilter, RunFilter

SEP = "\x1f"
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
RUN_ORDER = "date_us DESC, agent, run"


def lit(value: str) -> str:
    """A SQL string literal. Constants (not parameters) let the Parquet scan prune by min/max."""
    return "'" + value.replace("'", "''") + "'"


class Store:
    def __init__(self, data_dir: Path, *, threads: int = 2, memory_limit: str = "512MB", refresh_s: float = 0.25) -> None:
        self._db = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": memory_limit})
        self._db.execute("SET parquet_metadata_cache = true")
        self._loader = SnapshotLoader(data_dir)
        self._snap = Snapshot()
        self._refresh_s = refresh_s
        self._checked = -1e9
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    # -- snapshot ------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current snapshot, re-checked against the Delta logs at most every ``refresh_s``."""
        if time.monotonic() - self._checked < self._refresh_s:
            return self._snap
        with self._lock:
            if time.monotonic() - self._checked >= self._refresh_s:
                cur = self._db.cursor()
                try:
                    self._snap = self._loader.load(self._snap, cur)
                finally:
                    cur.close()
                self._checked = time.monotonic()
        return self._snap

    def _sql(self, sql: str, params: dict | list | None = None) -> pa.Table:
        cur = self._db.cursor()
        try:
            return cur.sql(sql, params=params or None).to_arrow_table()
        finally:
            cur.close()

    # -- runs ----------------------------------------------------------------------
    def runs_page(self, f: RunFilter, limit: int, offset: int, after: tuple | None,
                  gone: frozenset[tuple[str, str]]) -> tuple[list[dict], int, int]:  # fmt: skip
        """(rows, total matching, position of the first row) — newest first."""
        snap = self.snapshot()
        where, params = ["true"], {}
        if f.agents:
            where.append("list_contains($agents, agent)")
            params["agents"] = list(f.agents)
        if f.sources:
            where.append("list_contains($sources, source)")
            params["sources"] = list(f.sources)
        if f.since_us is not None:
            where.append("date_us >= $since")
            params["since"] = f.since_us
        if f.until_us is not None:
            where.append("date_us <= $until")
            params["until"] = f.until_us
        if f.status == "has_failures":
            where.append("failed + errors > 0")
        elif f.status == "all_passed":
            where.append("total > 0 AND passed = total")
        hidden = [a + SEP + r for a, r in gone - snap.tombstones]
        if hidden:
            where.append("NOT list_contains($hidden, agent || chr(31) || run)")
            params["hidden"] = hidden
        keyset = "true"
        if after is not None:
            keyset = "(date_us < $d OR (date_us = $d AND (agent > $a OR (agent = $a AND run > $r))))"
            params.update(d=after[0], a=after[1], r=after[2])
            offset = 0
        sql = (f"SELECT * FROM (SELECT *, count(*) OVER () AS _total, row_number() OVER (ORDER BY {RUN_ORDER}) AS _pos "
               f"FROM runs WHERE {' AND '.join(where)}) WHERE {keyset} ORDER BY {RUN_ORDER} LIMIT {int(limit)} OFFSET {int(offset)}")  # fmt: skip
        if not snap.runs:
            return [], 0, 0
        rows = self._sql(sql, params).to_pylist()
        if not rows:
            total = self._sql(f"SELECT count(*) AS n FROM runs WHERE {' AND '.join(where)}",
                              {k: v for k, v in params.items() if k not in ("d", "a", "r")})["n"][0].as_py()  # fmt: skip
            return [], total, 0
        return rows, rows[0]["_total"], rows[0]["_pos"]

    def run(self, agent: str, run: str) -> dict | None:
        return self.snapshot().runs.get((agent, run))

    def agent_runs(self, agent: str) -> list[dict]:
        return self.snapshot().by_agent.get(agent, [])

    def agents(self) -> list[str]:
        return sorted(self.snapshot().by_agent)

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
        keyset = "true"
        if after is not None:
            keyset, offset = "result_id > $after", 0
            params["after"] = after
        sql = (f"SELECT * FROM (SELECT {RESULT_COLUMNS}, count(*) OVER () AS _total, row_number() OVER (ORDER BY result_id) AS _pos "
               f"FROM read_parquet($files) WHERE {' AND '.join(where)}) WHERE {keyset} "
               f"ORDER BY result_id LIMIT {int(limit)} OFFSET {int(offset)}")  # fmt: skip
        rows = self._sql(sql, params).to_pylist()
        if rows:
            return rows, rows[0]["_total"], rows[0]["_pos"]
        count = self._sql(f"SELECT count(*) AS n FROM read_parquet($files) WHERE {' AND '.join(where)}",
                          {k: v for k, v in params.items() if k != "after"})["n"][0].as_py()  # fmt: skip
        return [], count, 0

    def scored_ids(self, agent: str, run: str) -> set[str]:
        files = self._files([(agent, run)])
        if not files:
            return set()
        t = self._sql(f"SELECT result_id FROM read_parquet($files) WHERE agent = {lit(agent)} AND run = {lit(run)}",
                      {"files": files})  # fmt: skip
        return set(t["result_id"].to_pylist())

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
