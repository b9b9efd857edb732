"""Re-score: replay archive + live stream through the current algorithm, switch atomically."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from services.common import streams
from services.ingest.core import envelope
from services.scorer.core.pricing import default_price_table
from services.scorer.core.project import Entry, project
from services.scorer.core.risk import RiskPolicy
from services.scorer.replay import Rescorer, Selection
from services.scorer.tables import Tables, latest_stats
from tests.factories import make_batch

pytestmark = pytest.mark.integration

STREAM = streams.stream_key(0)


def log(rclient, data: bytes) -> Entry:
    return Entry(0, rclient.xadd(STREAM, {"__data__": data}).decode(), data)


def run_events(rclient, run: str, n: int, start: int) -> list[Entry]:
    out = [log(rclient, envelope("RunCreated", event_id=f"{run}.c", agent="a1", run=run, at="2026-11-20T10:00:00.000Z",
                                 payload={"source": "ci", "mode": "sync"}))]  # fmt: skip
    for i, r in enumerate(make_batch(n, start=start)):
        out.append(log(rclient, envelope("ResultsSynced", event_id=f"{run}.{i}", agent="a1", run=run,
                                         at="2026-11-20T10:00:01.000Z",
                                         payload={"sync_id": run, "source": "ci", "results": [r]})))  # fmt: skip
    return out


def stale_scores(entries: list[Entry]):
    """Rows as an older algorithm would have made them: every case 'passed'."""
    proj = project(entries, default_price_table())
    results = proj.results
    idx = results.schema.get_field_index("status")
    import pyarrow as pa

    results = results.set_column(idx, "status", pa.array(["passed"] * results.num_rows))
    results = results.set_column(results.schema.get_field_index("algorithm_version"), "algorithm_version",
                                 pa.array(["0.0.1"] * results.num_rows))  # fmt: skip
    return type(proj)(results, proj.run_events, proj.archive, proj.failures)


def table(tables: Tables, sql: str):
    files = tables.current().files("results")
    con = duckdb.connect()
    con.sql(f"CREATE VIEW t AS SELECT * FROM read_parquet({files!r})")
    return con.sql(sql).fetchall()


@pytest.fixture
def scored_history(rclient, tmp_path: Path):
    """Two runs scored by an 'old algorithm', a third deleted; part of the log trimmed to the archive."""
    tables = Tables(tmp_path)
    r1, r2, r3 = run_events(rclient, "r1", 40, 0), run_events(rclient, "r2", 30, 100), run_events(rclient, "r3", 5, 200)
    gone = log(rclient, envelope("RunDeleted", event_id="r3.d", agent="a1", run="r3", at="2026-11-21T00:00:00.000Z",
                                 payload={}))  # fmt: skip
    tables.apply(stale_scores(r1 + r2[:10]))
    rclient.xtrim(STREAM, minid=r2[10].stream_id)  # archived part leaves Redis
    tables.apply(stale_scores(r2[10:] + r3 + [gone]))
    return tables


def test_full_rescore_rebuilds_a_new_generation_and_switches_to_it(scored_history, rclient):
    tables = scored_history
    before = tables.current_name()
    assert table(tables, "SELECT DISTINCT algorithm_version FROM t") == [("0.0.1",)]
    progress = Rescorer(tables, rclient, 1, workers=2).run()
    assert progress.phase == "done" and tables.current_name() != before
    assert table(tables, "SELECT DISTINCT algorithm_version FROM t") != [("0.0.1",)]
    assert table(tables, "SELECT count(*), count(DISTINCT stream_id) FROM t") == [(70, 70)]
    assert table(tables, "SELECT count(*) FROM t WHERE run = 'r3'") == [(0,)]  # the tombstone holds
    assert table(tables, "SELECT count(*) > 0 FROM t WHERE status = 'failed'") == [(True,)]
    stats = {r["run"]: r for r in latest_stats(tables.current().files("run_stats")).to_pylist()}
    assert stats["r1"]["total"] == 40 and stats["r2"]["total"] == 30 and stats["r1"]["passed"] < 40


def test_a_failed_rescore_leaves_readers_on_the_old_scores(scored_history, rclient, monkeypatch):
    tables = scored_history
    before = tables.current_name()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("services.scorer.replay._apply", boom)
    with pytest.raises(RuntimeError):
        Rescorer(tables, rclient, 1, workers=1).run()
    assert tables.current_name() == before
    assert table(tables, "SELECT DISTINCT algorithm_version FROM t") == [("0.0.1",)]


def test_rescore_of_one_run_swaps_only_that_run_in_one_commit(scored_history, rclient):
    tables = scored_history
    results = tables.current().table("results")
    version = results.version()
    Rescorer(tables, rclient, 1, workers=1).run(Selection(runs=("r2",)))
    assert tables.current().table("results").version() == version + 1
    by_run = dict(table(tables, "SELECT run, any_value(algorithm_version) FROM t GROUP BY run"))
    assert by_run["r1"] == "0.0.1" and by_run["r2"] != "0.0.1"
    assert table(tables, "SELECT count(*) FROM t WHERE run = 'r2'") == [(30,)]
