"""The run aggregates (counts, failure breakdown, score sums, cost, tokens, duration) as one
list of definitions, and their two forms: DuckDB SQL over results files (``_STATS_SQL``,
``_TAIL_SQL``) and Arrow over in-memory rows (``arrow_parts``), merged by ``merge_parts``. Pure:
``runstats.py`` runs them over the tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.common.sqltext import sql_literal

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
