"""A stats refresh reads only the results files that can hold the runs' rows, and the totals
stay exactly what a full scan gives (real Delta tables, real DuckDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.core import envelope
from services.scorer.core.pricing import default_price_table
from services.scorer.core.project import Entry, project
from services.scorer.tables import Tables, latest_stats
from tests.factories import make_batch

pytestmark = pytest.mark.integration

MS = 1_763_700_000_000  # a realistic (13-digit) Redis stream id time


def batch(seq: list[int], run: str, *, created: bool, start: int) -> list[Entry]:
    out = []
    if created:
        out.append(Entry(0, f"{MS + seq.pop(0)}-0", envelope("RunCreated", event_id=f"c-{run}", agent="a", run=run,
                                                            at="2026-11-21T10:00:00.000Z", payload={"source": "ci", "mode": "sync"})))  # fmt: skip
    for i, r in enumerate(make_batch(5, start=start)):
        out.append(Entry(0, f"{MS + seq.pop(0)}-{i}", envelope("ResultsSynced", event_id=f"e-{run}-{start + i}", agent="a", run=run,
                                                              at="2026-11-21T10:00:00.000Z",
                                                              payload={"sync_id": "s", "source": "ci", "results": [r]})))  # fmt: skip
    return out


def totals(tables: Tables) -> dict[str, int]:
    stats = latest_stats(tables.current().files("run_stats"))
    return dict(zip(stats["run"].to_pylist(), stats["total"].to_pylist()))


def test_refresh_reads_only_files_that_can_hold_the_runs_and_totals_stay_exact(tmp_path: Path):
    prices = default_price_table()
    seq = list(range(0, 1000, 10))
    tables = Tables(tmp_path)
    tables.apply(project(batch(seq, "old", created=True, start=0), prices))
    tables.apply(project(batch(seq, "new", created=True, start=100), prices))
    tables.apply(project(batch(seq, "old", created=False, start=200), prices))  # a late append to the old run
    gen = tables.current()
    dt = gen.table("results")
    assert len(dt.file_uris()) == 3

    assert len(tables._files_for(gen, dt, [("a", "new")])) == 2  # the old run's first file is skipped
    assert len(tables._files_for(gen, dt, [("a", "old")])) == 3
    assert totals(tables) == {"old": 10, "new": 5}

    fresh = Tables(tmp_path)  # a new process: run starts come from run_events, not from memory
    assert len(fresh._files_for(gen, dt, [("a", "new")])) == 2
    fresh.refresh_stats([("a", "new"), ("a", "old")])
    assert totals(fresh) == {"old": 10, "new": 5}


def test_runs_without_a_known_start_read_every_file(tmp_path: Path):
    prices = default_price_table()
    seq = list(range(0, 1000, 10))
    tables = Tables(tmp_path)
    tables.apply(project(batch(seq, "x", created=False, start=0), prices))
    tables.apply(project(batch(seq, "y", created=True, start=100), prices))
    gen = tables.current()
    dt = gen.table("results")
    assert len(tables._files_for(gen, dt, [("a", "x"), ("a", "y")])) == 2
    assert totals(tables) == {"x": 5, "y": 5}


def test_stats_compaction_keeps_rows_appended_between_its_read_and_its_overwrite(tmp_path: Path):
    prices = default_price_table()
    seq = list(range(0, 1000, 10))
    tables = Tables(tmp_path)
    tables.apply(project(batch(seq, "old", created=True, start=0), prices))
    tables.apply(project(batch(seq, "mid", created=True, start=100), prices))
    gen = tables.current()
    plan = tables.plan_stats_compaction(gen)
    assert plan is not None
    # meanwhile (writers still running): more results for "old" and a brand-new run
    tables.apply(project(batch(seq, "old", created=False, start=200), prices))
    tables.apply(project(batch(seq, "new", created=True, start=300), prices))
    tables.finish_stats_compaction(gen, plan)
    tables.tidy_stats(gen)
    assert len(gen.table("run_stats").file_uris()) == 1
    assert totals(tables) == {"old": 10, "mid": 5, "new": 5}


def test_a_data_directory_with_a_space_is_read_and_pruned_like_any_other(tmp_path: Path):
    from services.query.store import Store

    prices = default_price_table()
    seq = list(range(0, 1000, 10))
    data = tmp_path / "my data"  # Delta percent-encodes paths in its file URIs: my%20data
    tables = Tables(data)
    tables.apply(project(batch(seq, "old", created=True, start=0), prices))
    tables.apply(project(batch(seq, "new", created=True, start=100), prices))
    gen = tables.current()
    assert all(Path(f).is_file() for f in gen.files("results"))
    assert len(tables._files_for(gen, gen.table("results"), [("a", "new")])) == 1
    assert totals(tables) == {"old": 5, "new": 5}
    store = Store(data, refresh_s=0)
    try:
        snap = store.snapshot()
        assert {run for _, run in snap.runs} == {"old", "new"} and len(snap.results.files) == 2
        assert snap.results.for_runs([("a", "new")]) and all(r != (None,) * 4 for r in snap.results.ranges)
    finally:
        store.close()
