"""The query service's runs index follows run_stats and run_events incrementally (only the files
added since its last version): after any sequence of appends, deletes and compactions it must
equal a full read of the snapshot."""

from __future__ import annotations

import duckdb
import pytest

from services.query.catalog import RUNS_SQL, Snapshot, SnapshotLoader, has_new_version
from services.scorer.core.project import RUN_EVENTS_SCHEMA
from services.scorer.tables import RUN_STATS_SCHEMA, Tables
from tests.integration.query_helpers import apply, case, run_entries

pytestmark = pytest.mark.integration


def full_read(loader: SnapshotLoader) -> list[dict]:
    con = duckdb.connect()
    sources = {}
    for name, table, schema in (("stats", "run_stats", RUN_STATS_SCHEMA), ("events", "run_events", RUN_EVENTS_SCHEMA)):
        files = loader.files(table)
        con.register(f"empty_{name}", schema.empty_table())
        sources[name] = f"read_parquet({files!r}, union_by_name = true)" if files else f"empty_{name}"
    rows = con.sql(RUNS_SQL.format(**sources)).to_arrow_table().to_pylist()
    return sorted((r for r in rows if not r["deleted"] and r["date_us"] is not None), key=lambda r: (r["agent"], r["run"]))


def indexed(snap: Snapshot) -> list[dict]:
    return sorted(snap.runs.values(), key=lambda r: (r["agent"], r["run"]))


def test_incremental_runs_index_equals_a_full_read(tmp_path):
    tables, loader, con = Tables(tmp_path), SnapshotLoader(tmp_path), duckdb.connect()
    snap = Snapshot()
    steps = [
        run_entries("a1", "r1", [case(i, ok=i % 3 > 0) for i in range(6)], at="2026-11-20T10:00:00.000Z", complete=False),
        run_entries("a1", "r1", [case(10 + i) for i in range(4)], at="2026-11-20T10:05:00.000Z", created=False),
        run_entries("a2", "r2", [case(20)], at="2026-11-21T10:00:00.000Z", source="mcp"),
        run_entries("a1", "r3", [case(30, ok=False)], at="2026-11-21T11:00:00.000Z"),
    ]
    for entries in steps:  # each step is a new version of both tables: only its files are read
        apply(tables, entries)
        snap = loader.load(snap, con)
        assert indexed(snap) == full_read(loader)
    tables.compact()  # files rewritten (run stats to one row per run): read in full once
    snap = loader.load(snap, con)
    assert indexed(snap) == full_read(loader)
    apply(tables, run_entries("a1", "r1", [case(40, ok=False)], at="2026-11-20T10:09:00.000Z", created=False))
    snap = loader.load(snap, con)
    assert indexed(snap) == full_read(loader)
    r1 = snap.runs[("a1", "r1")]
    assert r1["total"] == 11 and r1["completed_us"] is not None and [r["run"] for r in indexed(snap)] == ["r1", "r3", "r2"]


def test_a_table_is_followed_only_when_it_has_a_new_commit(tmp_path):
    tables, loader, con = Tables(tmp_path), SnapshotLoader(tmp_path), duckdb.connect()
    apply(tables, run_entries("a1", "r1", [case(0)], at="2026-11-20T10:00:00.000Z"))
    snap = loader.load(Snapshot(), con)
    path = tables.current().path("run_stats")
    assert not has_new_version(path, snap.versions[1])
    assert loader.load(snap, con) is snap  # nothing new: the same snapshot, no table re-read
    apply(tables, run_entries("a1", "r1", [case(1)], at="2026-11-20T10:01:00.000Z", created=False))
    assert has_new_version(path, snap.versions[1])
    fresh = loader.load(snap, con)
    assert fresh.versions[1] > snap.versions[1] and fresh.runs[("a1", "r1")]["total"] == 2
    assert indexed(fresh) == full_read(loader)
