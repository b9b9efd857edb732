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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError

from services.common.delta import local_files, table_configuration, upgrade
from services.common.sqltext import sql_literal as _sql
from services.scorer.core.aggregates import (  # noqa: F401 - RUN_STATS_SCHEMA, _STATS_SQL: re-exported
    _STATS_SQL,
    RUN_STATS_SCHEMA,
)
from services.scorer.core.project import Projection
from services.scorer.duck import duck as _duck
from services.scorer.pruning import RunStarts
from services.scorer.runstats import (  # noqa: F401 - latest_stats: re-exported
    VACUUM_RETENTION_H,
    RunStatsMixin,
    latest_stats,
)

DEFAULT_GENERATION = "g000001"
COMPACT_TARGET_BYTES = 64 * 1024 * 1024
# Delta operations that rewrite or remove files but keep the table's rows (compaction, vacuum)
ROW_KEEPING = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


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


class Tables(RunStatsMixin):
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

    def _append(self, path: Path, rows: pa.Table, purpose: str = "write") -> int | None:
        """Append ``rows``; the table version this commit made (None when it created the table)."""
        dt = self._handle(path, purpose)
        if dt is None:
            write_deltalake(str(path), rows, mode="append", configuration=table_configuration(path))
            return None
        try:
            write_deltalake(dt, rows, mode="append")
        except CommitFailedError as exc:
            if "Metadata changed" not in str(exc):
                raise
            # a compaction set a table property (``delta.upgrade``) after our snapshot: an append
            # does not depend on it, so once more on the new snapshot (the failed try left only
            # data files no commit names, which vacuum removes)
            dt.update_incremental()
            write_deltalake(dt, rows, mode="append")
        return dt.version()  # the handle is at our commit now

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
              archive: bool = True, stats: bool = True, versions: dict[str, int | None] | None = None) -> int:  # fmt: skip
        """Commit a batch's rows, then refresh the stats of the runs it touched. Returns rows written.

        ``maybe_seen``: the batch may have been applied before (a redelivery after a crash);
        rows whose stream id a table already holds are dropped first. ``versions`` gets the
        version each table's commit made, by table name (None: unknown).
        """
        gen = gen or self.current()
        written = 0
        targets = [(gen.path("results"), proj.results), (gen.path("run_events"), proj.run_events)]
        if archive:
            targets.append((self.archive_path, proj.archive))

        made: dict[str, int | None] = {}

        def write(path: Path, rows: pa.Table) -> int:
            if maybe_seen:
                rows = unseen(path, rows)
            if rows.num_rows:
                made[path.name] = self._append(path, rows)
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
            made["results"] = None  # the purge made a version of its own
        if versions is not None:
            versions.update(made)
        self.run_starts.record(proj.run_events)
        if stats:
            self.refresh_stats(proj.runs, gen=gen)
        return written

    def only_compacted(self, gen: Generation, since: int, until: int) -> bool:
        """Whether every results commit after version ``since`` and before ``until`` rewrote
        files without changing the rows (compactions): a snapshot at ``since`` then holds the same
        rows as one at ``until - 1``."""
        dt = _load(gen.path("results"))
        if dt is None:
            return False
        between = [h for h in dt.history(dt.version() - since + 1) if since < h.get("version", -1) < until]
        return len(between) == until - since - 1 and all(h.get("operation") in ROW_KEEPING for h in between)

    def _purge_run(self, gen: Generation, agent: str, run: str) -> None:
        """A deleted run's results go physically too (readers already hide it via its tombstone)."""
        dt = gen.table("results")
        if dt is not None:
            dt.delete(f"agent = {_sql(agent)} AND run = {_sql(run)}")

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
                upgrade(dt, path)
                # Bin-packing only: it rewrites just the small files, in bounded memory. (A Z-order
                # by (agent, run) would prune better but sorts the whole table in memory: 3 GB
                # of worker RSS at 1M results here.)
                metrics = dt.optimize.compact(target_size=COMPACT_TARGET_BYTES, max_concurrent_tasks=1)
                done[path.name] = int(metrics.get("numFilesRemoved", 0))
                dt.create_checkpoint()
                dt.vacuum(retention_hours=VACUUM_RETENTION_H, enforce_retention_duration=False, dry_run=False)
        return done

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
