"""Run stats: per-run aggregates (counts, failure breakdown, BSS/AQS, cost, tokens, duration)
recomputed from the results snapshot for the runs a commit touched, appended with the results
version they saw (``as_of``; readers take the latest row per run), and compacted to one row per
run. A mixin of ``Tables``: it uses its table handles and generations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from services.common.delta import local_files, upgrade
from services.common.reduced import LATEST_PER_RUN, LATEST_STATS, Reduced
from services.scorer.core.scoring import scores_from_sums
from services.scorer.duck import duck as _duck
from services.scorer.folds import Fold, Mark, Run, fold_marks_table, folds_from, folds_table, marks_table
from services.scorer.duck import sql_literal
from services.scorer.pruning import files_since

if TYPE_CHECKING:
    from services.scorer.tables import Generation

# Files a compaction replaced stay this long, so a reader still on an older snapshot can finish.
VACUUM_RETENTION_H = 1

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

# agent, run and the aggregates: partial stats (a fold, or a group of rows) before merging
PARTS_SCHEMA = pa.schema([RUN_STATS_SCHEMA.field("agent"), RUN_STATS_SCHEMA.field("run")]
                         + [RUN_STATS_SCHEMA.field(name) for name in (
    "total", "passed", "failed", "errors", "tool_usage", "knowledge", "safety", "runtime", "other_failures", "critical",
    "high", "medium", "low", "score_scored", "score_cost", "score_weight", "score_passed_weight", "cost_usd",
    "cost_complete", "duration_ms", "input_tokens", "output_tokens", "first_synced_at", "last_synced_at",
    "algorithm_version")])  # fmt: skip


@dataclass(frozen=True)
class Aggregate:
    """One run aggregate, over the results rows that match ``where`` (all conditions):

    * ``count``: the matching rows (of them, those where ``column`` is not null, if given);
    * ``sum`` / ``bool_and`` / ``min`` / ``max`` of ``column`` (a run without rows: 0, true, null).

    ``where`` conditions are ``(column, "in" | "not in", values)``; a null matches ``not in``.
    One definition gives both forms: SQL for DuckDB over Parquet (``sql``), and Arrow compute
    over a batch in memory (``arrow_parts``), which a test holds equal on random rows.
    Every aggregate merges (``merge``): a run's stats are its fold (the settled part, see
    ``services/scorer/folds.py``) merged with the rows logged since.
    """

    name: str
    how: str
    column: str = ""
    where: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def merge(self) -> str:
        return "sum" if self.how == "count" else self.how

    def sql(self) -> str:
        conds = [f"{_sql_operand(c, op)} {op.upper()} ({', '.join(sql_literal(v) for v in values)})"
                 for c, op, values in self.where]  # fmt: skip
        if self.how == "count":
            if not conds:
                return f"count(r.{self.column})" if self.column else "count(*)"
            if self.column:
                conds.append(f"r.{self.column} IS NOT NULL")
            return f"count(*) FILTER ({' AND '.join(conds)})"
        assert not conds, "only counts are filtered"
        return {"sum": f"coalesce(sum(r.{self.column}), 0)", "bool_and": f"coalesce(bool_and(r.{self.column}), true)",
                "min": f"min(r.{self.column})", "max": f"max(r.{self.column})"}[self.how]  # fmt: skip

    def per_row(self, rows: pa.Table) -> pa.Array:
        """The per-row values whose ``merge`` over a group is this aggregate of the group."""
        if self.how == "count":
            mask = pc.is_valid(rows[self.column]) if self.column else pa.array(np.ones(rows.num_rows, bool))
            for column, op, values in self.where:
                value_set = pa.array(values, pa.string())
                if op == "in":  # a null is in no list (SQL: NULL IN (...) is not true)
                    mask = pc.and_(mask, pc.is_in(rows[column], value_set=value_set))
                else:  # a null counts as '' (the SQL's coalesce)
                    mask = pc.and_(mask, pc.invert(pc.is_in(pc.fill_null(rows[column], ""), value_set=value_set)))
            return pc.cast(pc.fill_null(mask, False), pa.int64())
        column = rows[self.column]
        return {"sum": lambda: pc.fill_null(column, 0), "bool_and": lambda: pc.fill_null(column, True)}.get(
            self.how, lambda: column)()  # fmt: skip


def _sql_operand(column: str, op: str) -> str:
    return f"coalesce(r.{column}, '')" if op == "not in" else f"r.{column}"


_FAILED = ("status", "in", ("failed",))
AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("total", "count", "result_id"),
    Aggregate("passed", "count", where=(("status", "in", ("passed",)),)),
    Aggregate("failed", "count", where=(_FAILED,)),
    Aggregate("errors", "count", where=(("status", "in", ("error",)),)),
    Aggregate("tool_usage", "count", where=(_FAILED, ("failure_category", "in", ("tool_usage",)))),
    Aggregate("knowledge", "count", where=(_FAILED, ("failure_category", "in", ("knowledge",)))),
    Aggregate("safety", "count", where=(_FAILED, ("failure_category", "in", ("safety",)))),
    Aggregate("runtime", "count", where=(("status", "in", ("error",)),)),
    Aggregate("other_failures", "count", where=(_FAILED, ("failure_category", "not in", ("tool_usage", "knowledge", "safety")))),
    Aggregate("critical", "count", where=(("severity", "in", ("critical",)),)),
    Aggregate("high", "count", where=(("severity", "in", ("high",)),)),
    Aggregate("medium", "count", where=(("severity", "in", ("medium",)),)),
    Aggregate("low", "count", where=(("severity", "in", ("low",)),)),
    *(Aggregate(name, "sum", name) for name in ("score_scored", "score_cost", "score_weight", "score_passed_weight",
                                                 "cost_usd")),  # fmt: skip
    Aggregate("cost_complete", "bool_and", "cost_known"),
    *(Aggregate(name, "sum", name) for name in ("duration_ms", "input_tokens", "output_tokens")),
    Aggregate("first_synced_at", "min", "synced_at"),
    Aggregate("last_synced_at", "max", "synced_at"),
    Aggregate("algorithm_version", "max", "algorithm_version"),
)
AGGREGATE_NAMES = tuple(a.name for a in AGGREGATES)
assert AGGREGATE_NAMES == tuple(PARTS_SCHEMA.names[2:])
_ROW_AGGREGATES = ",\n  ".join(f"{a.sql()} AS {a.name}" for a in AGGREGATES)

# A full recompute of the runs in ``wanted`` from the results rows (``{source}``, ``{prune}``).
_STATS_SQL = f"""
SELECT w.agent, w.run, {_ROW_AGGREGATES}
FROM wanted w LEFT JOIN (SELECT * FROM {{source}} WHERE {{prune}}) r ON r.agent = w.agent AND r.run = w.run
GROUP BY w.agent, w.run
"""

# the results columns the aggregates read (named: the scan then decodes no other column)
_READ_COLUMNS = ("agent", "run", "partition", "result_id", "status", "failure_category", "severity", "score_scored",
                 "score_cost", "score_weight", "score_passed_weight", "cost_usd", "cost_known", "duration_ms",
                 "input_tokens", "output_tokens", "synced_at", "algorithm_version")
_READ = ", ".join(_READ_COLUMNS)

# The rows of the runs logged at or after their fold's mark (all rows when a run has no fold),
# aggregated per run and per ``settled``: below the consumer group's settled mark of the row's
# partition (every entry before it is committed for good), so they may be folded in.
_TAIL_SQL = f"""
WITH rows AS (
  SELECT {_READ}, CAST(split_part(stream_id, '-', 1) AS BIGINT) AS ms, CAST(split_part(stream_id, '-', 2) AS BIGINT) AS seq
  FROM {{source}} WHERE {{prune}}
), r AS (
  SELECT rows.*, coalesce(rows.ms < m.ms OR (rows.ms = m.ms AND rows.seq < m.seq), false) AS settled
  FROM rows LEFT JOIN fold_marks f ON f.agent = rows.agent AND f.run = rows.run AND f.partition = rows.partition
  LEFT JOIN marks m ON m.partition = rows.partition
  WHERE f.ms IS NULL OR rows.ms > f.ms OR (rows.ms = f.ms AND rows.seq >= f.seq)
)
SELECT r.agent, r.run, r.partition, r.settled, {_ROW_AGGREGATES}
FROM r GROUP BY r.agent, r.run, r.partition, r.settled
"""

# the tail's groups: a run's rows in one partition, settled or not
TAIL_SCHEMA = pa.schema([PARTS_SCHEMA.field("agent"), PARTS_SCHEMA.field("run"), pa.field("partition", pa.int32()),
                         pa.field("settled", pa.bool_())] + [PARTS_SCHEMA.field(n) for n in AGGREGATE_NAMES])  # fmt: skip

_ARROW_AGG = {"sum": "sum", "bool_and": "all", "min": "min", "max": "max"}
_EMPTY_AS = {"sum": 0, "bool_and": True}  # what a run without rows shows (min/max: null)


def arrow_parts(rows: pa.Table, keys: list[str]) -> pa.Table:
    """The aggregates of ``rows`` (results columns, in memory) per ``keys``, with Arrow compute:
    what ``_ROW_AGGREGATES`` gives over the same rows, without a DuckDB query's fixed cost."""
    values = pa.table({k: rows[k] for k in keys} | {a.name: a.per_row(rows) for a in AGGREGATES})
    grouped = values.group_by(keys, use_threads=False).aggregate([(a.name, _ARROW_AGG[a.merge]) for a in AGGREGATES])
    return grouped.rename_columns([_base(c) for c in grouped.column_names]).select(keys + list(AGGREGATE_NAMES))


def merge_parts(parts: pa.Table, wanted: pa.Table) -> pa.Table:
    """Partial aggregates (``PARTS_SCHEMA``: folds and groups of rows) merged into one row per
    run of ``wanted`` (agent, run); a run without parts gets the empty aggregates."""
    grouped = parts.group_by(["agent", "run"], use_threads=False).aggregate(
        [(a.name, _ARROW_AGG[a.merge]) for a in AGGREGATES])  # fmt: skip
    grouped = grouped.rename_columns([_base(c) for c in grouped.column_names])  # "total_sum" -> "total"
    merged = wanted.join(grouped, keys=["agent", "run"], join_type="left outer", use_threads=False)
    for a in AGGREGATES:
        if a.merge in _EMPTY_AS:
            i = merged.schema.get_field_index(a.name)
            empty = pa.scalar(_EMPTY_AS[a.merge], PARTS_SCHEMA.field(a.name).type)
            merged = merged.set_column(i, a.name, pc.fill_null(merged[a.name], empty))
    return merged.select(PARTS_SCHEMA.names).cast(PARTS_SCHEMA)


def _base(column: str) -> str:
    for suffix in ("_sum", "_all", "_min", "_max"):
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


class RunStatsMixin:
    """The run-stats part of ``Tables``."""

    def refresh_stats(self, runs: Iterable[tuple[str, str]], *, gen: Generation | None = None,
                      marks: dict[int, Mark] | None = None, folds: dict[Run, Fold] | None = None) -> dict[Run, Fold]:
        """Recompute the aggregates of ``runs`` and append them; returns their new folds.

        Without ``marks`` every row of the runs is read (a full recompute: re-scores, tests). With
        the consumer group's settled ``marks`` (read *before* this call) and the runs' ``folds``,
        only rows logged at or after each fold's marks are read (``folds``). Rows carry the results
        version they were computed at (``as_of``); readers take the latest per run, so concurrent
        workers can never leave a stale row on top.
        """
        gen = gen or self.current()
        dt = self._handle(gen.path("results"), "stats")
        stats, new_folds = self.compute_stats(runs, gen=gen, marks=marks, folds=folds, dt=dt)
        if stats.num_rows:
            self.append_stats(gen, stats, dt.version() if dt is not None else -1)
        return new_folds if marks else {}

    def compute_stats(self, runs: Iterable[tuple[str, str]], *, gen: Generation, marks: dict[int, Mark] | None,
                      folds: dict[Run, Fold] | None, dt: DeltaTable | None, extra: pa.Table | None = None,
                      purpose: str = "stats") -> tuple[pa.Table, dict[Run, Fold]]:  # fmt: skip
        """The stats rows of ``runs`` (without ``as_of``) from the results snapshot ``dt``, plus the
        rows of ``extra`` (a batch not yet in that snapshot, e.g. being committed right now), and
        the runs' new folds (never of ``extra``'s rows: they are not acknowledged yet)."""
        runs = sorted(set(runs))
        if not runs:
            return RUN_STATS_SCHEMA.empty_table(), {}
        marks = marks or {}
        folds = {r: f for r, f in (folds or {}).items() if len(f.values) == len(AGGREGATE_NAMES)}
        files = self._files_for(gen, dt, runs, folds, purpose) if dt is not None else []
        wanted = pa.table({"agent": pa.array([a for a, _ in runs], pa.string()), "run": pa.array([r for _, r in runs], pa.string())})
        tails = [TAIL_SCHEMA.empty_table()]  # (agent, run, partition, settled, aggregates) groups
        if files:
            with _duck("fold_marks", "marks") as con:
                con.register("fold_marks", fold_marks_table(folds))
                con.register("marks", marks_table(marks))
                # constant IN lists, so the Parquet scan can skip row groups by their min/max stats
                prune = (f"agent IN ({', '.join(sorted({sql_literal(a) for a, _ in runs}))}) "
                         f"AND run IN ({', '.join(sorted({sql_literal(r) for _, r in runs}))})")  # fmt: skip
                sql = _TAIL_SQL.replace("{source}", "read_parquet($files)").replace("{prune}", prune)
                tails.append(con.sql(sql, params={"files": files}).to_arrow_table().cast(TAIL_SCHEMA))
        if extra is not None and extra.num_rows:
            # The batch being committed: its entries are pending, so its rows are neither settled
            # nor in any fold. Aggregated in memory (Arrow): under a steady trickle most runs of a
            # batch are new, no file can hold their rows, and no DuckDB query is needed at all.
            part = arrow_parts(extra, ["agent", "run", "partition"])
            part = part.add_column(3, "settled", pa.array(np.zeros(part.num_rows, bool)))
            tails.append(part.cast(TAIL_SCHEMA))
        tail = pa.concat_tables(tails)
        settled = tail["settled"]
        seen = set(zip(tail["agent"].to_pylist(), tail["run"].to_pylist(), tail["partition"].to_pylist()))
        tail = tail.drop_columns(["partition", "settled"])
        held = folds_table(folds, PARTS_SCHEMA)
        new_folds = folds_from(merge_parts(pa.concat_tables([held, tail.filter(settled)]), wanted), folds, marks, seen)
        stats = merge_parts(pa.concat_tables([held, tail]), wanted)
        sums = (np.nan_to_num(stats[c].to_numpy(zero_copy_only=False).astype(float))
                for c in ("score_scored", "score_cost", "score_weight", "score_passed_weight"))  # fmt: skip
        bss, aqs = scores_from_sums(*sums)
        stats = stats.append_column("bss", pa.array(bss)).append_column("aqs", pa.array(aqs))
        return stats, new_folds

    def append_stats(self, gen: Generation, stats: pa.Table, as_of: int) -> None:
        """Append stats rows computed from the results as of version ``as_of``."""
        stats = stats.append_column("as_of", pa.array([as_of] * stats.num_rows, pa.int64()))
        self._append(gen.path("run_stats"), stats.select(RUN_STATS_SCHEMA.names).cast(RUN_STATS_SCHEMA), "stats")

    def _files_for(self, gen: Generation, dt: DeltaTable, runs: list[tuple[str, str]],
                   folds: dict[Run, Fold] | None = None, purpose: str = "stats") -> list[str]:  # fmt: skip
        """The results files that can hold the rows of ``runs`` still to be read (``pruning``):
        from each run's fold marks, else from its ``RunCreated``; all files if one is unknown."""
        folds = folds or {}
        fresh = [r for r in runs if r not in folds]
        unknown = self.run_starts.missing(fresh)
        if unknown:
            events = self._handle(gen.path("run_events"), purpose)
            event_files = local_files(events) if events is not None else []
            if event_files:
                with _duck("wanted") as con:
                    con.register("wanted", pa.table({"agent": [a for a, _ in unknown], "run": [r for _, r in unknown]}))
                    self.run_starts.learn(con.sql(
                        "SELECT e.agent, e.run, min(e.stream_id) FROM read_parquet($files) e "
                        "JOIN wanted w ON e.agent = w.agent AND e.run = w.run WHERE e.type = 'RunCreated' "
                        "GROUP BY e.agent, e.run", params={"files": event_files}).fetchall())  # fmt: skip
        floors = [folds[r].floor_ms() for r in runs if r in folds]
        if fresh:
            start = self.run_starts.floor(fresh)
            if start is None:
                return local_files(dt)
            floors.append(start)
        return files_since(pa.table(dt.get_add_actions(flatten=True)), dt.table_uri, min(floors))

    def compact_stats(self, gen: Generation | None = None) -> None:
        """Keep one row per run (the latest). Callers must keep stats writers out during
        ``finish_stats_compaction`` (a read of what is new, then an overwrite)."""
        gen = gen or self.current()
        plan = self.plan_stats_compaction(gen)
        if plan is not None:
            self.finish_stats_compaction(gen, plan)
            self.tidy_stats(gen)

    def plan_stats_compaction(self, gen: Generation) -> StatsPlan | None:
        """The long part, with stats writers still running: the latest row per run as of now."""
        stats = gen.table("run_stats")
        if stats is None or len(stats.file_uris()) <= 1:
            return None
        plan = StatsPlan(stats)
        plan.catch_up()
        return plan

    def finish_stats_compaction(self, gen: Generation, plan: StatsPlan) -> None:
        """The short part, with stats writers kept out: fold in the rows appended since the plan
        (appends only add files; ``plan.catch_up`` beforehand leaves few), then overwrite the
        table with one row per run, on the plan's open table (no second load of its log)."""
        plan.catch_up()
        write_deltalake(plan.table, plan.latest.rows, mode="overwrite")

    def tidy_stats(self, gen: Generation) -> None:
        """Checkpoint and vacuum: safe beside concurrent appends."""
        stats = gen.table("run_stats")
        if stats is not None:
            upgrade(stats, gen.path("run_stats"))
            stats.create_checkpoint()
            stats.vacuum(retention_hours=VACUUM_RETENTION_H, enforce_retention_duration=False, dry_run=False)


class StatsPlan:
    """A run-stats compaction in progress: the open table and the latest row per run of the
    files read so far (``Reduced``: each catch-up reads only the files appended since)."""

    def __init__(self, table: DeltaTable) -> None:
        self.table = table
        self.latest = Reduced(RUN_STATS_SCHEMA, LATEST_STATS)

    def catch_up(self) -> None:
        """Read the files appended since: once beside the writers, then once more (a file or
        two) with them kept out, just before the overwrite."""
        self.table.update_incremental()
        self.latest.follow(self.table)


def latest_stats(files: list[str]) -> pa.Table:
    with _duck() as con:
        return con.sql(
            f"SELECT * FROM read_parquet($files) QUALIFY {LATEST_PER_RUN}",
            params={"files": files},
        ).to_arrow_table().cast(RUN_STATS_SCHEMA)
