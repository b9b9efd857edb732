"""The projection store: Delta Lake tables of Parquet, read by DuckDB.

Layout under ``<data_dir>/tables``::

    CURRENT                  name of the generation readers use (replaced atomically)
    <generation>/results     one scored row per result (nested tool calls, LLM calls, trace)
    <generation>/run_events  RunCreated / RunCompleted / RunDeleted rows
    <generation>/run_stats   per-run aggregates, appended after each commit; latest wins
    archive/events           the raw events (the cold log; not a projection, never rebuilt)

Every row carries the stream id it came from. A batch that may have been applied before
(a redelivery) is filtered against what each table already holds, so applying it twice
changes nothing.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from services.scorer.core.project import ARCHIVE_SCHEMA, RESULTS_SCHEMA, RUN_EVENTS_SCHEMA, Projection
from services.scorer.core.scoring import scores_from_sums
from services.scorer.pruning import RunStarts, files_since
from services.common.delta import local_files

RUN_STATS_SCHEMA = pa.schema(
    [("agent", pa.string()), ("run", pa.string()), ("as_of", pa.int64()), ("total", pa.int64()),
     ("passed", pa.int64()), ("failed", pa.int64()), ("errors", pa.int64()), ("tool_usage", pa.int64()),
     ("knowledge", pa.int64()), ("safety", pa.int64()), ("runtime", pa.int64()), ("other_failures", pa.int64()),
     ("critical", pa.int64()), ("high", pa.int64()), ("medium", pa.int64()), ("low", pa.int64()),
     ("score_scored", pa.float64()), ("score_cost", pa.float64()), ("score_weight", pa.float64()),
     ("score_passed_weight", pa.float64()), ("bss", pa.float64()), ("aqs", pa.float64()),
     ("cost_usd", pa.float64()), ("cost_complete", pa.bool_()), ("duration_ms", pa.float64()),
     ("input_tokens", pa.int64()), ("output_tokens", pa.int64()), ("first_synced_at", pa.timestamp("us", tz="UTC")),
     ("last_synced_at", pa.timestamp("us", tz="UTC")), ("algorithm_version", pa.string())]
)  # fmt: skip

DEFAULT_GENERATION = "g000001"
# Files a compaction replaced stay this long, so a reader still on an older snapshot can finish.
VACUUM_RETENTION_H = 1
COMPACT_TARGET_BYTES = 64 * 1024 * 1024

_STATS_SQL = """
SELECT w.agent, w.run, count(r.result_id) AS total,
  count(*) FILTER (r.status = 'passed') AS passed, count(*) FILTER (r.status = 'failed') AS failed,
  count(*) FILTER (r.status = 'error') AS errors,
  count(*) FILTER (r.status = 'failed' AND r.failure_category = 'tool_usage') AS tool_usage,
  count(*) FILTER (r.status = 'failed' AND r.failure_category = 'knowledge') AS knowledge,
  count(*) FILTER (r.status = 'failed' AND r.failure_category = 'safety') AS safety,
  count(*) FILTER (r.status = 'error') AS runtime,
  count(*) FILTER (r.status = 'failed' AND coalesce(r.failure_category, '') NOT IN ('tool_usage', 'knowledge', 'safety'))
    AS other_failures,
  count(*) FILTER (r.severity = 'critical') AS critical, count(*) FILTER (r.severity = 'high') AS high,
  count(*) FILTER (r.severity = 'medium') AS medium, count(*) FILTER (r.severity = 'low') AS low,
  coalesce(sum(r.score_scored), 0) AS score_scored, coalesce(sum(r.score_cost), 0) AS score_cost,
  coalesce(sum(r.score_weight), 0) AS score_weight, coalesce(sum(r.score_passed_weight), 0) AS score_passed_weight,
  coalesce(sum(r.cost_usd), 0) AS cost_usd, coalesce(bool_and(r.cost_known), true) AS cost_complete,
  coalesce(sum(r.duration_ms), 0) AS duration_ms, coalesce(sum(r.input_tokens), 0) AS input_tokens,
  coalesce(sum(r.output_tokens), 0) AS output_tokens, min(r.synced_at) AS first_synced_at,
  max(r.synced_at) AS last_synced_at, max(r.algorithm_version) AS algorithm_version
FROM wanted w LEFT JOIN (SELECT * FROM {source} WHERE {prune}) r ON r.agent = w.agent AND r.run = w.run
GROUP BY w.agent, w.run
"""


_local = threading.local()


@contextmanager
def _duck(*registered: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """This thread's small in-memory DuckDB for the scorer's own reads (bounded, so the worker's
    memory is too; kept, since opening one costs ~15 ms). The Arrow tables registered under
    ``registered`` are dropped afterwards."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(config={"threads": 1, "memory_limit": "256MB"})
    try:
        yield con
    finally:
        for name in registered:
            con.unregister(name)


def _load(path: Path) -> DeltaTable | None:
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


@dataclass
class Generation:
    """One complete set of projection tables."""

    root: Path

    def path(self, table: str) -> Path:
        return self.root / table

    def table(self, name: str) -> DeltaTable | None:
        return _load(self.path(name))

    def files(self, name: str) -> list[str]:
        dt = self.table(name)
        return local_files(dt) if dt is not None else []


class Tables:
    """Writes projections; readers get consistent snapshots through ``Generation.files``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "tables"
        self.root.mkdir(parents=True, exist_ok=True)
        self.archive_path = self.root / "archive" / "events"
        # Open tables, brought up to date incrementally instead of re-reading the whole log at
        # every commit. One set per purpose: the committer and the stats refresher run in
        # different threads and must not share a handle.
        self._handles: dict[tuple[str, Path], DeltaTable] = {}
        self._handles_lock = threading.Lock()
        self.run_starts = RunStarts()
        self._writers: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        with self._handles_lock:
            if self._writers is None:
                self._writers = ThreadPoolExecutor(3, thread_name_prefix="delta-commit")
            return self._writers

    def _handle(self, path: Path, purpose: str) -> DeltaTable | None:
        key = (purpose, path)
        with self._handles_lock:
            dt = self._handles.get(key)
        if dt is None:
            dt = _load(path)
            if dt is not None:
                with self._handles_lock:
                    self._handles[key] = dt
        else:
            dt.update_incremental()
        return dt

    def _append(self, path: Path, rows: pa.Table, purpose: str = "write") -> None:
        dt = self._handle(path, purpose)
        write_deltalake(dt if dt is not None else str(path), rows, mode="append")

    # -- generations -------------------------------------------------------------
    def current_name(self) -> str:
        pointer = self.root / "CURRENT"
        return pointer.read_text().strip() if pointer.is_file() else DEFAULT_GENERATION

    def current(self) -> Generation:
        return Generation(self.root / self.current_name())

    def generation(self, name: str) -> Generation:
        return Generation(self.root / name)

    def switch_to(self, name: str) -> None:
        """Point readers at generation ``name`` in one atomic rename."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".CURRENT.")
        with os.fdopen(fd, "w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / "CURRENT")

    # -- writes --------------------------------------------------------------------
    def apply(self, proj: Projection, *, gen: Generation | None = None, maybe_seen: bool = False,
              archive: bool = True, stats: bool = True) -> int:  # fmt: skip
        """Commit a batch's rows, then refresh the stats of the runs it touched. Returns rows written.

        ``maybe_seen``: the batch may have been applied before (a redelivery after a crash);
        rows whose stream id a table already holds are dropped first.
        """
        gen = gen or self.current()
        written = 0
        targets = [(gen.path("results"), proj.results), (gen.path("run_events"), proj.run_events)]
        if archive:
            targets.append((self.archive_path, proj.archive))

        def write(path: Path, rows: pa.Table) -> int:
            if maybe_seen:
                rows = unseen(path, rows)
            if rows.num_rows:
                self._append(path, rows)
            return rows.num_rows

        # The tables are independent: their commits run side by side (delta-rs and DuckDB release
        # the GIL), so a batch costs the slowest commit, not the sum. If one fails, the batch is
        # not acked and its redelivery skips what the others already hold.
        busy = [(path, rows) for path, rows in targets if rows.num_rows]
        if len(busy) > 1:
            written = sum(self._pool().map(lambda t: write(*t), busy))
        else:
            written = sum(write(path, rows) for path, rows in busy)
        deleted = [tuple(r) for r in zip(proj.run_events["agent"].to_pylist(), proj.run_events["run"].to_pylist(),
                                         proj.run_events["type"].to_pylist()) if r[2] == "RunDeleted"]  # fmt: skip
        for agent, run, _ in deleted:
            self._purge_run(gen, agent, run)
        self.run_starts.record(proj.run_events)
        if stats:
            self.refresh_stats(proj.runs, gen=gen)
        return written

    def _purge_run(self, gen: Generation, agent: str, run: str) -> None:
        """A deleted run's results go physically too (readers already hide it via its tombstone)."""
        dt = gen.table("results")
        if dt is not None:
            dt.delete(f"agent = {_sql(agent)} AND run = {_sql(run)}")

    def refresh_stats(self, runs: Iterable[tuple[str, str]], *, gen: Generation | None = None) -> None:
        """Recompute the aggregates of ``runs`` from the results snapshot and append them.

        Rows carry the results version they were computed at (``as_of``); readers take the
        latest per run, so concurrent workers can never leave a stale row on top.
        """
        runs = sorted(set(runs))
        gen = gen or self.current()
        if not runs:
            return
        dt = self._handle(gen.path("results"), "stats")
        version, files = (dt.version(), self._files_for(gen, dt, runs)) if dt is not None else (-1, [])
        with _duck("wanted", "empty_results") as con:
            con.register("wanted", pa.table({"agent": [a for a, _ in runs], "run": [r for _, r in runs]}))
            con.register("empty_results", RESULTS_SCHEMA.empty_table())
            source = "read_parquet($files)" if files else "(SELECT * FROM empty_results)"
            # constant IN lists, so the Parquet scan can skip row groups by their min/max stats
            prune = f"agent IN ({', '.join(sorted({_sql(a) for a, _ in runs}))}) AND run IN ({', '.join(sorted({_sql(r) for _, r in runs}))})"
            sql = _STATS_SQL.replace("{source}", source).replace("{prune}", prune)
            stats = con.sql(sql, params={"files": files} if files else None).to_arrow_table()
        sums = (np.nan_to_num(stats[c].to_numpy(zero_copy_only=False).astype(float))
                for c in ("score_scored", "score_cost", "score_weight", "score_passed_weight"))  # fmt: skip
        bss, aqs = scores_from_sums(*sums)
        stats = stats.append_column("bss", pa.array(bss)).append_column("aqs", pa.array(aqs))
        stats = stats.append_column("as_of", pa.array([version] * stats.num_rows, pa.int64()))
        self._append(gen.path("run_stats"), stats.select(RUN_STATS_SCHEMA.names).cast(RUN_STATS_SCHEMA), "stats")

    def _files_for(self, gen: Generation, dt: DeltaTable, runs: list[tuple[str, str]]) -> list[str]:
        """The results files that can hold rows of ``runs`` (``pruning``): all of them unless
        every run's ``RunCreated`` is known."""
        unknown = self.run_starts.missing(runs)
        if unknown:
            events = self._handle(gen.path("run_events"), "stats")
            if events is not None and local_files(events):
                with _duck("wanted") as con:
                    con.register("wanted", pa.table({"agent": [a for a, _ in unknown], "run": [r for _, r in unknown]}))
                    self.run_starts.learn(con.sql(
                        "SELECT e.agent, e.run, min(e.stream_id) FROM read_parquet($files) e "
                        "JOIN wanted w ON e.agent = w.agent AND e.run = w.run WHERE e.type = 'RunCreated' "
                        "GROUP BY e.agent, e.run", params={"files": local_files(events)}).fetchall())  # fmt: skip
        floor = self.run_starts.floor(runs)
        if floor is None:
            return local_files(dt)
        return files_since(pa.table(dt.get_add_actions(flatten=True)), dt.table_uri, floor)

    # -- maintenance ---------------------------------------------------------------
    def compact(self, gen: Generation | None = None) -> dict[str, int]:
        """Merge small files (bounded file count under a trickle of syncs) and drop stale stats rows.

        The stats part reads and then overwrites ``run_stats``: callers must keep stats writers
        out meanwhile (the worker holds the stats lock for ``compact_stats``)."""
        done = self.compact_tables(gen)
        self.compact_stats(gen)
        return done

    def compact_tables(self, gen: Generation | None = None) -> dict[str, int]:
        """Bin-pack results, run events and the archive: safe beside concurrent appends."""
        gen = gen or self.current()
        done: dict[str, int] = {}
        for path in (gen.path("results"), gen.path("run_events"), self.archive_path):
            dt = _load(path)
            if dt is not None:
                # Bin-packing only: it rewrites just the small files, in bounded memory. (A Z-order
                # by (agent, run) would prune better but sorts the whole table in memory: 3 GB
                # of worker RSS at 1M results here.)
                metrics = dt.optimize.compact(target_size=COMPACT_TARGET_BYTES, max_concurrent_tasks=1)
                done[path.name] = int(metrics.get("numFilesRemoved", 0))
                dt.create_checkpoint()
                dt.vacuum(retention_hours=VACUUM_RETENTION_H, enforce_retention_duration=False, dry_run=False)
        return done

    def compact_stats(self, gen: Generation | None = None) -> None:
        """Keep one row per run (the latest). Callers must keep stats writers out during
        ``finish_stats_compaction`` (a read of what is new, then an overwrite)."""
        gen = gen or self.current()
        plan = self.plan_stats_compaction(gen)
        if plan is not None:
            self.finish_stats_compaction(gen, plan)
            self.tidy_stats(gen)

    def plan_stats_compaction(self, gen: Generation) -> tuple[frozenset[str], pa.Table] | None:
        """The long part, with stats writers still running: the latest row per run as of now."""
        stats = gen.table("run_stats")
        if stats is None or len(local_files(stats)) <= 1:
            return None
        files = local_files(stats)
        return frozenset(files), latest_stats(files)

    def finish_stats_compaction(self, gen: Generation, plan: tuple[frozenset[str], pa.Table]) -> None:
        """The short part, with stats writers kept out: fold in the rows appended since the plan
        (appends only add files), then overwrite the table with one row per run."""
        seen, latest = plan
        stats = gen.table("run_stats")
        new = [f for f in local_files(stats) if f not in seen] if stats is not None else []
        if new:
            with _duck("planned", "fresh") as con:
                con.register("planned", latest)
                con.register("fresh", pa.concat_tables([latest.slice(0, 0), latest_stats(new)]))
                latest = con.sql(
                    "SELECT * FROM (SELECT * FROM planned UNION ALL SELECT * FROM fresh) "
                    "QUALIFY row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1"
                ).to_arrow_table().cast(RUN_STATS_SCHEMA)
        write_deltalake(str(gen.path("run_stats")), latest, mode="overwrite")

    def tidy_stats(self, gen: Generation) -> None:
        """Checkpoint and vacuum: safe beside concurrent appends."""
        stats = gen.table("run_stats")
        if stats is not None:
            stats.create_checkpoint()
            stats.vacuum(retention_hours=VACUUM_RETENTION_H, enforce_retention_duration=False, dry_run=False)


def latest_stats(files: list[str]) -> pa.Table:
    with _duck() as con:
        return con.sql(
            "SELECT * FROM read_parquet($files) QUALIFY row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1",
            params={"files": files},
        ).to_arrow_table().cast(RUN_STATS_SCHEMA)


def unseen(path: Path, rows: pa.Table) -> pa.Table:
    dt = _load(path)
    if dt is None or not rows.num_rows:
        return rows
    files = local_files(dt)
    if not files:
        return rows
    with _duck("batch") as con:
        con.register("batch", rows.select(["partition", "stream_id"]))
        seen = con.execute(
            "SELECT DISTINCT t.partition, t.stream_id FROM read_parquet($files) t "
            "JOIN batch b ON t.partition = b.partition AND t.stream_id = b.stream_id",
            {"files": files},
        ).fetchall()
    if not seen:
        return rows
    seen_set = set(seen)
    keep = [(p, s) not in seen_set for p, s in zip(rows["partition"].to_pylist(), rows["stream_id"].to_pylist())]
    return rows.filter(pa.array(keep))


def _sql(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
