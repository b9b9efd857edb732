"""The projection tables keep a short Delta log: commit files a checkpoint covers are deleted
once older than ``LOG_RETENTION``, so the log (which every snapshot update lists) stays bounded
under a steady stream of commits, and a reader that fell further behind than that catches up
from the checkpoint."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from services.common import delta
from services.scorer.tables import Tables
from tests.integration.query_helpers import apply, case, run_entries

pytestmark = pytest.mark.integration


def commit_files(path) -> list[str]:
    return sorted(p.name for p in (path / "_delta_log").glob("*.json"))


def test_every_projection_table_is_created_with_the_short_log_retention(tmp_path):
    tables = Tables(tmp_path)
    apply(tables, run_entries("a1", "r1", [case(i) for i in range(3)], at="2026-11-20T10:00:00.000Z"))
    gen = tables.current()
    for path in (gen.path("results"), gen.path("run_events"), gen.path("run_stats"), tables.archive_path):
        config = DeltaTable(str(path)).metadata().configuration
        assert config["delta.logRetentionDuration"] == delta.LOG_RETENTION, path
        assert config["delta.checkpointInterval"] == delta.CHECKPOINT_INTERVAL, path


def test_old_commit_files_go_and_a_reader_left_behind_catches_up(tmp_path, monkeypatch):
    monkeypatch.setattr(delta, "LOG_RETENTION", "interval 1 seconds")
    path = tmp_path / "results"
    write_deltalake(str(path), pa.table({"n": [0]}), configuration=delta.table_configuration(path))
    behind = DeltaTable(str(path))  # a reader at version 0 that does not look again for a while
    writer = DeltaTable(str(path))  # as the worker writes: through a handle kept at its last commit
    for n in range(1, 100):
        write_deltalake(writer, pa.table({"n": [n]}), mode="append")
    time.sleep(1.2)  # commits 0..99 are now older than the retention
    for n in range(100, 205):  # each checkpoint (every CHECKPOINT_INTERVAL commits) deletes the expired commits
        write_deltalake(writer, pa.table({"n": [n]}), mode="append")
    files = commit_files(path)
    # 0..98 are gone (delta-rs keeps the last expired one before the checkpoint as the log's start)
    assert int(files[0].removesuffix(".json")) >= 99 and len(files) <= 106, files[:3]
    assert list((path / "_delta_log").glob("*.checkpoint.parquet"))

    behind.update_incremental()
    assert behind.version() == 204
    assert sorted(behind.to_pyarrow_table()["n"].to_pylist()) == list(range(205))
    assert DeltaTable(str(path)).version() == 204  # a new reader starts from the checkpoint


def test_a_table_made_before_the_properties_gets_them_at_its_compaction_and_appends_go_on(tmp_path):
    tables = Tables(tmp_path)
    apply(tables, run_entries("a1", "r1", [case(0)], at="2026-11-20T10:00:00.000Z"))
    gen = tables.current()
    paths = (gen.path("results"), gen.path("run_events"), gen.path("run_stats"), tables.archive_path)
    for path in paths:  # as an older version left them: Delta's defaults
        DeltaTable(str(path)).alter.set_table_properties({"delta.logRetentionDuration": "interval 30 days",
                                                          "delta.checkpointInterval": "100"})  # fmt: skip
    apply(tables, run_entries("a1", "r2", [case(1)], at="2026-11-20T10:01:00.000Z"))  # the worker's handles are now here
    tables.compact()  # upgrades each table: a metadata commit after the handles' snapshot
    for path in paths:
        config = DeltaTable(str(path)).metadata().configuration
        assert config["delta.logRetentionDuration"] == delta.LOG_RETENTION, path
        assert config["delta.checkpointInterval"] == delta.CHECKPOINT_INTERVAL, path
    apply(tables, run_entries("a1", "r3", [case(2)], at="2026-11-20T10:02:00.000Z"))
    results = DeltaTable(str(gen.path("results"))).to_pyarrow_table(columns=["run"])
    assert sorted(results["run"].to_pylist()) == ["r1", "r2", "r3"]
    assert delta.upgrade(DeltaTable(str(gen.path("results"))), gen.path("results")) is False  # nothing left to do


def test_an_append_that_meets_a_property_change_is_retried_on_the_new_snapshot(tmp_path, monkeypatch):
    tables = Tables(tmp_path)
    path = tmp_path / "events"
    write_deltalake(str(path), pa.table({"n": [0]}), configuration=delta.table_configuration(path))
    stale = DeltaTable(str(path))  # a worker's handle, updated just before the property landed
    DeltaTable(str(path)).alter.set_table_properties({"delta.checkpointInterval": "11"})
    monkeypatch.setattr(tables, "_handle", lambda p, purpose="write": stale)
    version = tables._append(path, pa.table({"n": [1]}))
    assert version == 2 and sorted(DeltaTable(str(path)).to_pyarrow_table()["n"].to_pylist()) == [0, 1]
