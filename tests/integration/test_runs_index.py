"""The query service's runs index follows run_stats and run_events incrementally (only the files
added since its last version): after any sequence of appends, deletes and compactions it must
equal a full read of the snapshot."""

from __future__ import annotations

import duckdb
import pytest

from services.query.catalog import RUNS_SQL, Snapshot, SnapshotLoader, has_new_version
from services.scorer.core.project import RUN_EVENTS_SCHEMA
from services.scorer.tables import RUN_STATS_SCHEMA, Tables
from tests.integration.query_helpers import _entry, apply, case, run_entries
from tests.runindex_checks import assert_same_index

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


def assert_as_rebuilt(snap: Snapshot, tmp_path) -> None:
    """A snapshot followed version by version (its index patched) equals one loaded afresh."""
    fresh = SnapshotLoader(tmp_path).load(Snapshot(), duckdb.connect())
    assert snap.runs == fresh.runs and snap.tombstones == fresh.tombstones and snap.by_run_id == fresh.by_run_id
    assert_same_index(snap.index, fresh.index)


def test_a_patched_runs_index_equals_a_rebuilt_one(tmp_path, monkeypatch):
    tables, loader, con = Tables(tmp_path), SnapshotLoader(tmp_path), duckdb.connect()
    rebuilds = []
    build = SnapshotLoader._build_runs
    monkeypatch.setattr(loader, "_build_runs", lambda *a: (rebuilds.append(1), build(loader, *a)))
    snap = Snapshot()
    at = "2026-11-20T10:00:00.000Z"
    steps = [
        run_entries("a1", "r1", [case(0)], at=at, complete=False, mode="streaming"),
        run_entries("a2", "r1", [case(1, ok=False)], at=at, source="mcp"),  # same run id and time, another agent
        run_entries("a0", "r2", [case(2)], at=at),  # same time: ordered by agent, then run
        run_entries("a1", "r1", [case(3)], at=at, created=False, complete=True),  # completes: now all passed
        [_entry("RunDeleted", "a2", "r1", "2026-11-20T11:00:00.000Z", {})],
        run_entries("a3", "r9", [case(4)], at="2026-11-19T09:00:00.000Z", source="cli"),  # older: goes last
        run_entries("a1", "r3", [], at="2026-11-21T09:00:00.000Z"),  # created, no results yet
        run_entries("a1", "r3", [case(5, ok=False)], at="2026-11-21T09:00:00.000Z", created=False, complete=False),
        run_entries("a4", "r5", [case(7)], at="2026-11-18T09:00:00.000Z", created=False, complete=False),  # no events
    ]
    for entries in steps:
        apply(tables, entries)
        snap = loader.load(snap, con)
        assert_as_rebuilt(snap, tmp_path)
    assert len(rebuilds) == 1  # the first load; every later version was a patch
    assert ("a2", "r1") in snap.tombstones and snap.by_run_id["r1"] == ["a1"]
    assert [r["run"] for r in snap.index.rows] == ["r3", "r2", "r1", "r9", "r5"]
    tables.compact()  # read afresh once, then followed again
    snap = loader.load(snap, con)
    assert_as_rebuilt(snap, tmp_path)
    apply(tables, run_entries("a3", "r9", [case(6, ok=False)], at="2026-11-19T09:00:00.000Z", created=False))
    snap = loader.load(snap, con)
    assert_as_rebuilt(snap, tmp_path)
    assert len(rebuilds) == 2 and snap.runs[("a3", "r9")]["failed"] == 1


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


def test_a_load_that_failed_half_way_is_followed_by_a_full_read(tmp_path, monkeypatch):
    tables, loader, con = Tables(tmp_path), SnapshotLoader(tmp_path), duckdb.connect()
    apply(tables, run_entries("a1", "r1", [case(0)], at="2026-11-20T10:00:00.000Z"))
    snap = loader.load(Snapshot(), con)
    apply(tables, run_entries("a1", "r2", [case(1, ok=False)], at="2026-11-20T11:00:00.000Z"))
    events = loader._events

    def broken(dt):
        raise OSError("disk hiccup")

    monkeypatch.setattr(events, "follow", broken)  # run_stats is followed, then run_events fails
    with pytest.raises(OSError):
        loader.load(snap, con)
    snap = loader.load(snap, con)  # readers kept the old snapshot; this one must hold r2
    assert snap.runs[("a1", "r2")]["failed"] == 1
    assert_as_rebuilt(snap, tmp_path)
