"""Inline run stats are computed from the results snapshot before a batch's commit; they are
kept only if nothing changed the rows between that snapshot and the commit. A compaction
rewrites files, not rows: it must not make them drop (and a refresh follow)."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from services.scorer.tables import Tables
from tests.integration.query_helpers import apply, case, run_entries

pytestmark = pytest.mark.integration


def version(tables: Tables) -> int:
    return DeltaTable(str(tables.current().path("results"))).version()


def test_only_compactions_between_two_versions_keep_the_rows(tmp_path):
    tables = Tables(tmp_path)
    apply(tables, run_entries("a1", "r1", [case(i) for i in range(3)], at="2026-11-20T10:00:00.000Z"))
    apply(tables, run_entries("a1", "r2", [case(i) for i in range(3)], at="2026-11-20T10:01:00.000Z"))
    snapshot = version(tables)
    tables.compact_tables()
    tables.current().table("results").vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    compacted = version(tables)
    assert compacted == snapshot + 3  # OPTIMIZE, VACUUM START, VACUUM END
    apply(tables, run_entries("a1", "r3", [case(9)], at="2026-11-20T10:02:00.000Z"))
    ours = version(tables)
    assert tables.only_compacted(tables.current(), snapshot, ours)
    assert tables.only_compacted(tables.current(), compacted, ours)  # nothing between
    # an append by someone else between the snapshot and our commit changes the rows
    assert not tables.only_compacted(tables.current(), snapshot - 1, ours)
    apply(tables, run_entries("a1", "r4", [case(10)], at="2026-11-20T10:03:00.000Z"))
    assert not tables.only_compacted(tables.current(), snapshot, version(tables))


def test_tables_keep_delta_stats_only_of_the_columns_pruned_by(tmp_path):
    tables = Tables(tmp_path)
    apply(tables, run_entries("a1", "r1", [case(i) for i in range(3)], at="2026-11-20T10:00:00.000Z"))
    for dt in (tables.current().table("results"), tables.current().table("run_events"), DeltaTable(str(tables.archive_path))):
        names = set(dt.get_add_actions(flatten=True).schema.names)
        assert {"min.agent", "max.agent", "min.stream_id", "max.stream_id"} <= names, names
        assert not {"min.user_message", "min.description", "min.data", "min.type"} & names, names
    stats = set(tables.current().table("run_stats").get_add_actions(flatten=True).schema.names)
    assert {"min.agent", "max.run"} <= stats and "min.bss" not in stats
