"""docs/analytics.md: every documented query runs against a real store through the snapshot views."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from services.query import snapshot
from tests.integration.query_helpers import apply, build_store, case, run_entries

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def documented_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_the_worked_examples():
    text = " ".join(documented_queries())
    assert len(documented_queries()) >= 3 and "aqs" in text and "flips" in text and "regressions" in text


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("analytics")
    tables = build_store(tmp_path)
    # a third run of a1 a week later, so trends and flips span runs and weeks
    apply(tables, run_entries("a1", "r6", [case(i, ok=i != 1) for i in range(10)], at="2026-11-28T10:00:00.000Z"))
    return snapshot.build(tmp_path, tmp_path / "snap.duckdb")


@pytest.mark.parametrize("n", range(len(documented_queries())))
def test_documented_query_runs(snapshot_file, n):
    con = duckdb.connect(str(snapshot_file), read_only=True)
    rows = con.sql(documented_queries()[n]).to_arrow_table()
    assert rows.num_rows > 0


def test_views_cover_the_tables(snapshot_file):
    con = duckdb.connect(str(snapshot_file), read_only=True)
    counts = {v: con.sql(f"SELECT count(*) FROM {v}").fetchall()[0][0]
              for v in ("results", "runs", "run_events", "run_stats", "tool_calls", "llm_calls", "trace")}  # fmt: skip
    assert counts["runs"] == 5 and counts["results"] == 37 and counts["tool_calls"] >= counts["results"]
    assert counts["llm_calls"] == 2 * counts["results"] and counts["trace"] == 5 * counts["results"]
    flips = dict(con.sql("SELECT scenario_id, count(*) FROM results WHERE agent = 'a1' GROUP BY 1").fetchall())
    assert flips["scenario-001"] == 3
