"""Incremental run stats (folds) against a real redis-server and real Delta tables: whatever the
order in which workers commit, refresh and crash, the stats equal a full recompute, and a refresh
of a run with a fold reads only what was logged since."""

from __future__ import annotations

import math

import duckdb
import pyarrow as pa
import pytest

from services.common import streams
from services.ingest.core import envelope
from services.scorer.consumer import fold_key, stats_epoch_key
from services.scorer.core.aggregates import _STATS_SQL, AGGREGATE_NAMES
from services.scorer.core.project import Entry
from services.scorer.replay import Rescorer, Selection
from services.scorer.tables import Tables, latest_stats
from services.scorer.worker import Scorer
from tests.factories import make_batch

pytestmark = pytest.mark.integration

STREAM = streams.stream_key(0)
RUNS = [("a1", "r1"), ("a1", "r2"), ("a2", "r3")]


def log(rclient, n: int, start: int) -> None:
    pipe = rclient.pipeline()
    for i, result in enumerate(make_batch(n, start=start)):
        agent, run = RUNS[(start + i) % len(RUNS)]
        if start + i < len(RUNS):
            pipe.xadd(STREAM, {"__data__": envelope("RunCreated", event_id=f"c{run}", agent=agent, run=run,
                                                    at="2026-11-21T10:00:00.000Z", payload={"source": "ci", "mode": "sync"})})  # fmt: skip
        pipe.xadd(STREAM, {"__data__": envelope("ResultsSynced", event_id=f"e{start + i}", agent=agent, run=run,
                                                at="2026-11-21T10:00:00.000Z",
                                                payload={"sync_id": "s", "source": "ci", "results": [result]})})  # fmt: skip
    pipe.execute()


async def read(scorer: Scorer, consumer: str, count: int) -> list[Entry]:
    got = await scorer.group.redis.xreadgroup(scorer.group.group, consumer, {STREAM: ">"}, count=count)
    return [Entry(0, sid.decode(), f[b"__data__"]) for _, msgs in got for sid, f in msgs]


def full_recompute(tables: Tables) -> dict[tuple[str, str], dict]:
    """The reference: every aggregate from a scan of all the results rows."""
    files = tables.current().files("results")
    con = duckdb.connect()
    con.register("wanted", pa.table({"agent": [a for a, _ in RUNS], "run": [r for _, r in RUNS]}))
    rows = con.sql(_STATS_SQL.replace("{source}", "read_parquet($f)").replace("{prune}", "true"), params={"f": files})
    return {(r["agent"], r["run"]): r for r in rows.to_arrow_table().to_pylist()}


def shown(tables: Tables) -> dict[tuple[str, str], dict]:
    return {(r["agent"], r["run"]): r for r in latest_stats(tables.current().files("run_stats")).to_pylist()}


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for run in want:
        for name in AGGREGATE_NAMES:
            g, w = got[run][name], want[run][name]
            if isinstance(w, float):
                assert math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9), (run, name, g, w)
            else:
                assert g == w, (run, name, g, w)


async def test_stats_from_folds_equal_a_full_recompute_whatever_the_commit_order(scorer_factory, rclient):
    a, b = await scorer_factory(), await scorer_factory()
    for round_ in range(4):
        log(rclient, 60, start=round_ * 60)
        first, second = await read(a, "wa", 35), await read(b, "wb", 40)  # a's batch is older
        await b.process(second)  # b commits first: a's entries are still pending below it
        marks = await b.group.settled_marks()
        assert marks[0] <= tuple(int(x) for x in first[0].stream_id.split("-"))  # a's oldest pending holds the mark
        await a.process(first)
        assert_same(shown(a.tables), full_recompute(a.tables))
    # the folds made along the way were used, and they cover settled rows only
    gen = a.tables.current().root.name
    keys = [fold_key(0, gen, 0, agent, run) for agent, run in RUNS]
    assert all(await a.group.redis.mget(keys))


async def test_a_run_with_a_fold_reads_only_the_files_logged_since(scorer_factory, rclient):
    scorer = await scorer_factory()
    for round_ in range(5):
        log(rclient, 30, start=round_ * 30)
        await scorer.process(await read(scorer, "w", 1000))
    gen = scorer.tables.current()
    dt = gen.table("results")
    runs = sorted(RUNS)
    folds = await scorer.group.folds(gen.root.name, 0, runs)
    assert set(folds) == set(RUNS)
    assert len(scorer.tables._files_for(gen, dt, runs)) == 5  # without folds: every file since the runs began
    assert len(scorer.tables._files_for(gen, dt, runs, folds)) <= 1  # with them: at most the newest one
    assert_same(shown(scorer.tables), full_recompute(scorer.tables))


async def test_a_crash_between_commit_and_ack_is_never_folded_twice(scorer_factory, rclient):
    scorer = await scorer_factory()
    log(rclient, 40, start=0)
    entries = await read(scorer, "w", 1000)
    scorer.tables.apply(scorer_projection(scorer, entries), stats=False)  # committed, never acked: a crash
    await scorer.refresh_stats(force=True)  # nothing dirty yet; then the redelivery
    await scorer.process(entries, maybe_seen=True)
    log(rclient, 10, start=40)
    await scorer.process(await read(scorer, "w", 1000))
    assert_same(shown(scorer.tables), full_recompute(scorer.tables))


def scorer_projection(scorer: Scorer, entries: list[Entry]):
    from services.scorer.core.project import project

    return project(entries, scorer.prices)


async def test_a_rescore_retires_the_folds_and_the_stats_stay_exact(scorer_factory, rclient, redis_url):
    import redis

    scorer = await scorer_factory()
    for round_ in range(3):
        log(rclient, 30, start=round_ * 30)
        await scorer.process(await read(scorer, "w", 1000))
    gen = scorer.tables.current().root.name
    sync = redis.Redis.from_url(redis_url)
    Rescorer(scorer.tables, sync, 1, workers=1).run(Selection(runs=("r1",)))
    assert int(sync.get(stats_epoch_key(gen))) == 1  # every fold of the generation made before is retired
    assert await scorer.group.folds(gen, 1, sorted(RUNS)) == {}
    log(rclient, 30, start=90)
    await scorer.process(await read(scorer, "w", 1000))
    assert_same(shown(scorer.tables), full_recompute(scorer.tables))
    sync.close()


async def test_a_commit_acked_while_a_refresh_runs_keeps_its_runs_dirty(scorer_factory, rclient):
    """Issue 15's stuck stats: a refresh read the dirty runs, then the results snapshot; another
    batch of those runs was committed and acked (marking them dirty again) before the refresh
    cleaned them, and the clean dropped that mark: the runs kept stats from before the batch."""
    a, b = await scorer_factory(), await scorer_factory()
    log(rclient, 30, start=0)
    await commit_and_ack(b, await read(b, "wb", 1000))
    save_folds = a.group.save_folds
    raced = []

    async def commit_meanwhile(*args, **kwargs):  # after a's snapshot was read, before it cleans
        await save_folds(*args, **kwargs)
        if not raced:
            raced.append(True)
            log(rclient, 30, start=30)
            await commit_and_ack(b, await read(b, "wb", 1000))

    a.group.save_folds = commit_meanwhile
    await a.refresh_stats(force=True)
    assert raced
    await a.refresh_stats(force=True)  # what the worker's loop does next: the runs are still dirty
    assert_same(shown(a.tables), full_recompute(a.tables))
    assert {r["total"] for r in shown(a.tables).values()} == {20}


async def commit_and_ack(scorer: Scorer, entries: list[Entry]) -> None:
    """A worker's commit and ack of a batch without inline stats (as behind a backlog): its runs are dirty."""
    await scorer._commit(entries, scorer_projection(scorer, entries), maybe_seen=True)
    assert await scorer.group.dirty_runs()


async def test_dirty_runs_left_by_an_earlier_version_are_kept(scorer_factory, rclient):
    rclient.sadd("invarium:stats:dirty", "a1\x1fr1", "a2\x1fr3")  # the set the earlier versions kept
    scorer = await scorer_factory()
    assert set(await scorer.group.dirty_runs()) == {("a1", "r1"), ("a2", "r3")}
    assert not rclient.exists("invarium:stats:dirty")
