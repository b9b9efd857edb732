"""The Arrow reduction a followed table keeps (``first_per_group``) is the SQL one it replaced:
``row_number() OVER (PARTITION BY … ORDER BY …) = 1``, nulls last, read in any slices."""

from __future__ import annotations

from functools import cache

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.reduced import LATEST_PER_RUN, LATEST_STATS, Keep, first_per_group

EVENTS = Keep(("agent", "run", "type"), (("at", "ascending"), ("stream_id", "ascending")))
EVENTS_SQL = 'row_number() OVER (PARTITION BY agent, run, type ORDER BY "at", stream_id) = 1'

rows = st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from(["r1", "r2"]), st.sampled_from(["RunCreated", "RunCompleted"]),
                          st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 5)), max_size=30)  # fmt: skip


def table(data) -> pa.Table:
    cols = list(zip(*data)) if data else [[]] * 5
    # unique as_of / stream ids per run, as the writers make them: the kept row is then well defined
    return pa.table({"agent": pa.array(cols[0], pa.string()), "run": pa.array(cols[1], pa.string()),
                     "type": pa.array(cols[2], pa.string()), "at": pa.array(cols[3], pa.int64()),
                     "stream_id": pa.array([f"{i:03d}-{v}" for i, v in enumerate(cols[4])], pa.string()),
                     "as_of": pa.array(range(len(data)), pa.int64())})  # fmt: skip


@cache
def _duck() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(config={"threads": 1})


def by_sql(t: pa.Table, keep: str) -> list[tuple]:
    con = _duck()
    con.register("t", t)
    try:
        return sorted(con.sql(f"SELECT * FROM t QUALIFY {keep}").fetchall())
    finally:
        con.unregister("t")


def rows_of(t: pa.Table) -> list[tuple]:
    return sorted(zip(*(t.column(c).to_pylist() for c in t.column_names)))


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(0, 30))
def test_first_per_group_is_the_sql_reduction_in_any_slices(data, cut):
    t = table(data)
    for keep, sql in ((EVENTS, EVENTS_SQL), (LATEST_STATS, LATEST_PER_RUN)):
        assert rows_of(first_per_group(t, keep)) == by_sql(t, sql)
        # reduced in two slices, then together: the same rows (what following a table relies on)
        halves = pa.concat_tables([first_per_group(t.slice(0, cut), keep), first_per_group(t.slice(cut), keep)])
        assert rows_of(first_per_group(halves, keep)) == by_sql(t, sql)
