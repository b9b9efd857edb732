"""The current snapshot of the projection tables, and what readers cache about it.

Reads ``<data dir>/tables/CURRENT`` and the Delta logs of its tables; nothing here holds a
``.duckdb`` file. The small tables (latest run stats joined with the run lifecycle events)
are followed per Delta version into a Python index and numpy columns (``RunIndex``), patched
for the runs a version touched; the big one (results) is only listed: its file URIs and per-file
min/max of (agent, run) from the Delta log, so a run's reads open only the files that can hold it.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from services.common.delta import local_files
from services.common.reduced import LATEST_PER_RUN, LATEST_STATS, Keep, Reduced
from services.query.core.runindex import RunIndex, sort_key
from services.query.core.runrow import run_rows
from services.scorer.core.project import RUN_EVENTS_SCHEMA
from services.scorer.tables import DEFAULT_GENERATION, RUN_STATS_SCHEMA

RUNS_SQL = """
WITH s AS (
  SELECT * FROM {stats} QUALIFY """ + LATEST_PER_RUN + """
), e AS (
  SELECT agent, run,
    min(epoch_us("at")) FILTER (WHERE type = 'RunCreated') AS created_us,
    arg_min(source, "at") FILTER (WHERE type = 'RunCreated') AS source,
    arg_min(mode, "at") FILTER (WHERE type = 'RunCreated') AS mode,
    min(epoch_us("at")) FILTER (WHERE type = 'RunCompleted') AS completed_us,
    bool_or(type = 'RunDeleted') AS deleted
  FROM {events} GROUP BY agent, run
)
SELECT coalesce(s.agent, e.agent) AS agent, coalesce(s.run, e.run) AS run,
  coalesce(e.created_us, epoch_us(s.first_synced_at)) AS date_us, e.completed_us, e.source, e.mode,
  coalesce(s.total, 0) AS total, coalesce(s.passed, 0) AS passed, coalesce(s.failed, 0) AS failed,
  coalesce(s.errors, 0) AS errors, coalesce(s.tool_usage, 0) AS tool_usage, coalesce(s.knowledge, 0) AS knowledge,
  coalesce(s.safety, 0) AS safety, coalesce(s.runtime, 0) AS runtime, coalesce(s.other_failures, 0) AS other_failures,
  s.critical, s.high, s.medium, s.low, CASE WHEN coalesce(s.total, 0) > 0 THEN s.bss END AS bss,
  CASE WHEN coalesce(s.total, 0) > 0 THEN s.aqs END AS aqs, s.cost_usd, coalesce(s.cost_complete, true) AS cost_complete,
  s.duration_ms, s.input_tokens, s.output_tokens, s.algorithm_version, coalesce(e.deleted, false) AS deleted
FROM s FULL OUTER JOIN e ON s.agent = e.agent AND s.run = e.run
"""


PATCH_MAX = 2_000  # up to this many touched runs (or a quarter of them) the index is patched, not rebuilt


def _reduced_stats() -> Reduced:
    """The latest stats row of each run."""
    return Reduced(RUN_STATS_SCHEMA, LATEST_STATS)


def _reduced_events() -> Reduced:
    """The first event of each type of each run: all ``RUNS_SQL`` reads of them."""
    return Reduced(RUN_EVENTS_SCHEMA, Keep(("agent", "run", "type"), (("at", "ascending"), ("stream_id", "ascending"))))


def _open(path: Path) -> DeltaTable | None:
    try:
        return DeltaTable(str(path))
    except TableNotFoundError:
        return None


def has_new_version(path: Path, version: int) -> bool:
    """Whether a Delta table has a commit after ``version``: one ``stat`` of the next commit file
    (every commit writes ``_delta_log/<version>.json``), against 3–14 ms for an
    ``update_incremental`` that finds nothing new here (it lists the log). The snapshot is
    checked every ``refresh_s``; most checks of most tables find nothing."""
    return (path / "_delta_log" / f"{version + 1:020d}.json").exists()


@dataclass
class FileIndex:
    """The results snapshot's files with their (agent, run) ranges, for pruning."""

    files: list[str] = field(default_factory=list)
    ranges: list[tuple[str | None, str | None, str | None, str | None]] = field(default_factory=list)

    @classmethod
    def of(cls, dt: DeltaTable) -> FileIndex:
        files = local_files(dt)
        try:
            actions = pa.table(dt.get_add_actions(flatten=True))
        except Exception:  # noqa: BLE001 - no stats: every read scans every file
            return cls(files, [(None, None, None, None)] * len(files))
        root = unquote(dt.table_uri.removeprefix("file://")).rstrip("/")
        by_path = {os.path.join(root, unquote(p)): i for i, p in enumerate(actions["path"].to_pylist())}
        cols = {c: actions[c].to_pylist() if c in actions.column_names else [None] * actions.num_rows
                for c in ("min.agent", "max.agent", "min.run", "max.run")}  # fmt: skip
        ranges = []
        for f in files:
            i = by_path.get(f)
            ranges.append((None, None, None, None) if i is None else
                          (cols["min.agent"][i], cols["max.agent"][i], cols["min.run"][i], cols["max.run"][i]))  # fmt: skip
        return cls(files, ranges)

    def for_runs(self, pairs: list[tuple[str, str]]) -> list[str]:
        """Files whose min/max stats allow any of ``pairs`` (a file without stats always qualifies)."""
        out = []
        for f, (amin, amax, rmin, rmax) in zip(self.files, self.ranges):
            for agent, run in pairs:
                if (amin is None or amin <= agent) and (amax is None or agent <= amax) and \
                   (rmin is None or rmin <= run) and (rmax is None or run <= rmax):  # fmt: skip
                    out.append(f)
                    break
        return out


@dataclass
class Snapshot:
    """What a reader needs of one consistent state of the tables."""

    generation: str = ""
    versions: tuple[int, int, int] = (-1, -1, -1)  # results, run_stats, run_events
    results: FileIndex = field(default_factory=FileIndex)
    runs: dict[tuple[str, str], dict] = field(default_factory=dict)  # (agent, run) -> row
    by_run_id: dict[str, list[str]] = field(default_factory=dict)  # run id -> agents, oldest run first
    index: RunIndex = field(default_factory=RunIndex)  # newest first
    tombstones: frozenset[tuple[str, str]] = frozenset()  # projected RunDeleted


class SnapshotLoader:
    """Follows ``CURRENT`` and the Delta logs; rebuilds only what changed."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "tables"
        self._gen = ""
        self._tables: dict[str, DeltaTable | None] = {}
        self._stats, self._events = _reduced_stats(), _reduced_events()

    def _current(self) -> str:
        pointer = self.root / "CURRENT"
        try:
            return pointer.read_text().strip() or DEFAULT_GENERATION
        except FileNotFoundError:
            return DEFAULT_GENERATION

    def _table(self, name: str) -> DeltaTable | None:
        dt = self._tables.get(name)
        if dt is None:
            dt = self._tables[name] = _open(self.root / self._gen / name)
        elif has_new_version(self.root / self._gen / name, dt.version()):
            dt.update_incremental()
        return dt

    def stats_changed(self) -> bool:
        """Whether the runs' stats moved on since the last load: ``CURRENT`` names another generation,
        or ``run_stats`` has a commit after the version loaded (a stat call or two). Callers hold
        the lock ``load`` runs under."""
        if self._current() != self._gen:
            return True
        dt = self._tables.get("run_stats")
        return has_new_version(self.root / self._gen / "run_stats", dt.version() if dt is not None else -1)

    def files(self, name: str) -> list[str]:
        """The current generation's files of table ``name`` (for the analyst views)."""
        gen = self._current()
        if gen != self._gen:
            self._gen, self._tables = gen, {}
        dt = self._table(name)
        return local_files(dt) if dt is not None else []

    def load(self, old: Snapshot, con: duckdb.DuckDBPyConnection) -> Snapshot:
        gen = self._current()
        if gen != self._gen:
            self._gen, self._tables = gen, {}
            self._stats, self._events = _reduced_stats(), _reduced_events()
            old = Snapshot()
        tables = [self._table(n) for n in ("results", "run_stats", "run_events")]
        versions = tuple(t.version() if t is not None else -1 for t in tables)
        if gen == old.generation and versions == old.versions:
            return old
        snap = Snapshot(gen, versions, old.results, old.runs, old.by_run_id, old.index, old.tombstones)  # type: ignore[arg-type]
        if versions[0] != old.versions[0]:
            snap.results = FileIndex.of(tables[0]) if tables[0] is not None else FileIndex()
        if versions[1:] != old.versions[1:] or gen != old.generation:
            try:
                self._follow_runs(snap, con, tables[1], tables[2])
            except BaseException:
                # the followed rows may be ahead of every snapshot now, and a patch would miss the
                # runs they touched: the next load reads the tables afresh instead
                self._stats, self._events = _reduced_stats(), _reduced_events()
                raise
        return snap

    def _follow_runs(self, snap: Snapshot, con: duckdb.DuckDBPyConnection, stats: DeltaTable | None,
                     events: DeltaTable | None) -> None:  # fmt: skip
        """Bring the runs up to the tables: patched for the runs the new files touched, rebuilt when
        the tables were read afresh (first load, new generation, compaction) or more than
        max(PATCH_MAX, a quarter of the runs) changed."""
        touched_stats, touched_events = self._stats.follow(stats), self._events.follow(events)
        if touched_stats is None or touched_events is None:
            self._build_runs(snap, con)
            return
        touched = touched_stats | touched_events
        if not touched:
            return
        if len(touched) > max(PATCH_MAX, len(snap.runs) // 4):
            self._build_runs(snap, con)
            return
        rows = run_rows(self._stats.of_runs(touched).to_pylist(), self._events.of_runs(touched).to_pylist())
        runs, by_run_id, tombstones = dict(snap.runs), dict(snap.by_run_id), set(snap.tombstones)
        removed, added = [], []
        touched_agents: dict[str, set[str]] = defaultdict(set)  # run id -> the touched runs' agents
        for agent, run in touched:
            touched_agents[run].add(agent)
        for key in touched:
            row = runs.pop(key, None)
            if row is not None:
                removed.append(sort_key(row))
            tombstones.discard(key)
        for row in rows:
            key = (row["agent"], row["run"])
            if row["deleted"]:
                tombstones.add(key)
            elif row["date_us"] is not None:
                runs[key] = row
                added.append(row)
        for run, agents in touched_agents.items():  # the agents of each touched run id, from the rows now
            agents = agents.union(snap.by_run_id.get(run, ()))
            ordered = _oldest_first([runs[(a, run)] for a in agents if (a, run) in runs])
            if ordered:
                by_run_id[run] = [r["agent"] for r in ordered]
            else:
                by_run_id.pop(run, None)
        snap.runs, snap.by_run_id, snap.tombstones = runs, by_run_id, frozenset(tombstones)
        snap.index = snap.index.patched(removed, added)

    def _build_runs(self, snap: Snapshot, con: duckdb.DuckDBPyConnection) -> None:
        con.register("state_stats", self._stats.rows)
        con.register("state_events", self._events.rows)
        try:
            rows = con.sql(RUNS_SQL.format(stats="state_stats", events="state_events")).to_arrow_table()
        finally:
            con.unregister("state_stats")
            con.unregister("state_events")
        deleted = rows["deleted"].to_pylist()
        snap.tombstones = frozenset((a, r) for a, r, d in zip(rows["agent"].to_pylist(), rows["run"].to_pylist(), deleted) if d)
        rows = rows.filter(pc.and_(pc.invert(rows["deleted"]), pc.is_valid(rows["date_us"])))
        rows = rows.sort_by([("date_us", "descending"), ("agent", "ascending"), ("run", "ascending")])
        newest_first = rows.to_pylist()
        by_run_id: dict[str, list[str]] = defaultdict(list)
        for row in reversed(newest_first):
            by_run_id[row["run"]].append(row["agent"])
        snap.runs = {(row["agent"], row["run"]): row for row in newest_first}
        snap.by_run_id = dict(by_run_id)
        snap.index = RunIndex.of(newest_first)


def _oldest_first(rows: list[dict]) -> list[dict]:
    """The reverse of the runs list's order (newest first, then agent and run ascending)."""
    return sorted(rows, key=sort_key, reverse=True)
