"""The run aggregates have two forms, SQL (DuckDB over Parquet) and Arrow compute (a batch in
memory): on any rows, nulls included, they must agree exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scorer.core.aggregates import (
    _STATS_SQL,
    AGGREGATE_NAMES,
    AGGREGATES,
    PARTS_SCHEMA,
    Aggregate,
    arrow_parts,
    merge_parts,
)
from services.scorer.core.project import RESULTS_SCHEMA

COLUMNS = ("agent", "run", "result_id", "status", "failure_category", "severity", "score_scored", "score_cost",
           "score_weight", "score_passed_weight", "cost_usd", "cost_known", "duration_ms", "input_tokens",
           "output_tokens", "synced_at", "algorithm_version")  # fmt: skip
SCHEMA = pa.schema([RESULTS_SCHEMA.field(c) for c in COLUMNS])
T0 = datetime(2026, 11, 21, tzinfo=UTC)


def maybe(strategy):
    return st.one_of(st.none(), strategy)


money = maybe(st.floats(min_value=0, max_value=1e6, allow_nan=False))
row = st.fixed_dictionaries({
    "agent": st.sampled_from(["a1", "a2"]), "run": st.sampled_from(["r1", "r2", "r3"]), "result_id": maybe(st.text(max_size=3)),
    "status": maybe(st.sampled_from(["passed", "failed", "error", "pending"])),
    "failure_category": maybe(st.sampled_from(["tool_usage", "knowledge", "safety", "other", ""])),
    "severity": maybe(st.sampled_from(["critical", "high", "medium", "low"])),
    "score_scored": money, "score_cost": money, "score_weight": money, "score_passed_weight": money, "cost_usd": money,
    "cost_known": maybe(st.booleans()), "duration_ms": money,
    "input_tokens": maybe(st.integers(0, 10**9)), "output_tokens": maybe(st.integers(0, 10**9)),
    "synced_at": maybe(st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s))),
    "algorithm_version": maybe(st.sampled_from(["2026.11.1", "2026.12.1"])),
})  # fmt: skip

WANTED = pa.table({"agent": ["a1", "a1", "a1", "a2", "a2", "a2"], "run": ["r1", "r2", "r3", "r1", "r2", "r3"]})


CON = duckdb.connect()
CON.register("wanted", WANTED)


def by_sql(rows: pa.Table) -> dict:
    CON.register("rows", rows)
    out = CON.sql(_STATS_SQL.replace("{source}", "rows").replace("{prune}", "true")).to_arrow_table()
    return {(r["agent"], r["run"]): r for r in out.cast(PARTS_SCHEMA).to_pylist()}


def by_arrow(rows: pa.Table) -> dict:
    out = merge_parts(arrow_parts(rows, ["agent", "run"]).cast(PARTS_SCHEMA), WANTED)
    return {(r["agent"], r["run"]): r for r in out.to_pylist()}


@settings(max_examples=200, deadline=None)
@given(st.lists(row, max_size=40))
def test_arrow_aggregates_equal_the_sql_ones(rows):
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    want, got = by_sql(table), by_arrow(table)
    assert got.keys() == want.keys() == set(zip(WANTED["agent"].to_pylist(), WANTED["run"].to_pylist()))
    for run, expected in want.items():
        for name in AGGREGATE_NAMES:
            g, w = got[run][name], expected[name]
            if isinstance(w, float):
                assert math.isclose(g, w, rel_tol=1e-12, abs_tol=1e-9), (run, name, g, w)
            else:
                assert g == w, (run, name, g, w)


def test_every_count_filters_as_its_sql_says():
    rows = pa.Table.from_pylist([
        {"agent": "a1", "run": "r1", "result_id": "x", "status": "failed", "failure_category": None, "severity": "low"},
        {"agent": "a1", "run": "r1", "result_id": None, "status": "failed", "failure_category": "safety", "severity": None},
        {"agent": "a1", "run": "r1", "result_id": "y", "status": "error", "failure_category": "tool_usage"},
    ], schema=SCHEMA)  # fmt: skip
    got = by_arrow(rows)[("a1", "r1")]
    # a failure without a category is "other"; a category on an error is not a failure of it
    assert (got["total"], got["failed"], got["errors"], got["runtime"]) == (2, 2, 1, 1)
    assert (got["safety"], got["tool_usage"], got["other_failures"], got["low"]) == (1, 0, 1, 1)
    assert {a.name for a in AGGREGATES} == set(AGGREGATE_NAMES)


EDGE = (Aggregate("empty_in", "count", where=(("failure_category", "in", ("",)),)),
        Aggregate("empty_not_in", "count", where=(("failure_category", "not in", ("",)),)),
        Aggregate("ids_failed", "count", "result_id", where=(("status", "in", ("failed",)),)))  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.lists(row, max_size=30))
def test_edge_conditions_agree_too(rows):
    """Nulls against '' in a list, and a filtered count of a nullable column."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    CON.register("rows", table)
    sql = CON.sql(f"SELECT r.agent, r.run, {', '.join(f'{a.sql()} AS {a.name}' for a in EDGE)} FROM rows r "
                  "GROUP BY r.agent, r.run").to_arrow_table()  # fmt: skip
    want = {(r["agent"], r["run"]): r for r in sql.to_pylist()}
    values = pa.table({"agent": table["agent"], "run": table["run"]} | {a.name: a.per_row(table) for a in EDGE})
    got = values.group_by(["agent", "run"]).aggregate([(a.name, "sum") for a in EDGE])
    got = {(r["agent"], r["run"]): r for r in got.to_pylist()}
    assert got.keys() == want.keys()
    for run, expected in want.items():
        assert [got[run][f"{a.name}_sum"] for a in EDGE] == [expected[a.name] for a in EDGE], (run, got[run], expected)
