"""The scorer against a real redis-server and real Delta tables."""

from __future__ import annotations

import asyncio

import duckdb
import pytest
from deltalake import DeltaTable

from services.common import streams
from services.ingest.core import envelope
from services.common.deadletters import dead_letter_key, list_dead_letters, redrive
from services.scorer.core.project import Entry
from services.scorer.tables import Tables, latest_stats
from services.scorer.worker import Scorer
from tests.factories import make_batch

pytestmark = pytest.mark.integration

STREAM = streams.stream_key(0)


def result_event(n: int, result: dict, run: str = "r1", agent: str = "a1") -> bytes:
    return envelope("ResultsSynced", event_id=f"e{n}", agent=agent, run=run, at="2026-11-21T10:00:00.000Z",
                    payload={"sync_id": "s", "source": "ci", "results": [result]})  # fmt: skip


def log_results(rclient, n: int, *, run: str = "r1", start: int = 0) -> list[str]:
    pipe = rclient.pipeline()
    for i, r in enumerate(make_batch(n, start=start)):
        pipe.xadd(STREAM, {"__data__": result_event(start + i, r, run)})
    return [x.decode() for x in pipe.execute()]


def rows(tables: Tables, sql: str = "SELECT count(*), count(DISTINCT stream_id) FROM t"):
    files = tables.current().files("results")
    con = duckdb.connect()
    con.sql(f"CREATE VIEW t AS SELECT * FROM read_parquet({files!r})")
    return con.sql(sql).fetchall()


async def read_group(scorer: Scorer, consumer: str, count: int) -> list[Entry]:
    got = await scorer.group.redis.xreadgroup(scorer.group.group, consumer, {STREAM: ">"}, count=count)
    return [Entry(0, sid.decode(), f[b"__data__"]) for _, msgs in got for sid, f in msgs]


async def test_events_logged_before_the_first_worker_are_scored_and_acked(scorer_factory, rclient):
    log_results(rclient, 30)
    scorer = await scorer_factory()
    assert await scorer.process(await read_group(scorer, "w1", 100)) == 30
    assert rows(scorer.tables) == [(30, 30)]
    assert rclient.xpending(STREAM, "scorer")["pending"] == 0
    stats = latest_stats(scorer.tables.current().files("run_stats")).to_pylist()
    assert stats[0]["total"] == 30 and stats[0]["passed"] + stats[0]["failed"] + stats[0]["errors"] == 30


async def test_applying_a_batch_twice_changes_nothing(scorer_factory, rclient):
    log_results(rclient, 20)
    scorer = await scorer_factory()
    entries = await read_group(scorer, "w1", 100)
    await scorer.process(entries)
    await scorer.process(entries[5:] + entries[:3], maybe_seen=True)  # a redelivery with other boundaries
    assert rows(scorer.tables) == [(20, 20)]
    stats = latest_stats(scorer.tables.current().files("run_stats")).to_pylist()
    assert stats[0]["total"] == 20


async def test_two_workers_share_the_load_and_score_every_event_once(scorer_factory, rclient):
    sent = log_results(rclient, 400)
    a, b = await scorer_factory(), await scorer_factory()

    async def drain(scorer: Scorer, name: str) -> int:
        done = 0
        while entries := await read_group(scorer, name, 37):
            done += await scorer.process(entries)
        return done

    done_a, done_b = await asyncio.gather(drain(a, "wa"), drain(b, "wb"))
    assert done_a > 0 and done_b > 0 and done_a + done_b == len(sent)
    assert rows(a.tables) == [(400, 400)]
    assert rows(a.tables, "SELECT count(*) FROM t WHERE stream_id NOT IN (SELECT unnest($ids))".replace(
        "$ids", repr(sent))) == [(0,)]  # fmt: skip


async def test_entries_left_by_a_dead_worker_are_reclaimed(scorer_factory, rclient):
    log_results(rclient, 10)
    dead = await scorer_factory()
    await read_group(dead, "dead-worker", 100)  # read, never acked: the worker "crashed"
    alive = await scorer_factory(claim_idle_ms=100)
    await asyncio.sleep(0.2)
    assert await alive.reclaim_once("alive") == 10
    assert rows(alive.tables) == [(10, 10)]
    assert rclient.xpending(STREAM, "scorer")["pending"] == 0


async def test_a_poison_event_is_dead_lettered_and_never_blocks_the_group(scorer_factory, rclient):
    log_results(rclient, 3)
    poison = rclient.xadd(STREAM, {"__data__": b'{"type": "ResultsSynced", "not": "an event"}'}).decode()
    log_results(rclient, 3, start=3)
    scorer = await scorer_factory(claim_idle_ms=100, max_deliveries=2)
    assert await scorer.process(await read_group(scorer, "w1", 100)) == 6
    for _ in range(3):  # retried until it has been delivered more than max_deliveries times
        await asyncio.sleep(0.15)
        await scorer.reclaim_once("w1")
    dead = await list_dead_letters(scorer.group.redis, 1)
    assert [d.stream_id for d in dead] == [poison]
    assert "KeyError" in dead[0].error and dead[0].deliveries == 3
    assert rclient.xpending(STREAM, "scorer")["pending"] == 0
    assert rows(scorer.tables) == [(6, 6)]
    new_id = await redrive(scorer.group.redis, dead[0])
    assert rclient.xlen(dead_letter_key(0)) == 0 and rclient.xrange(STREAM, new_id, new_id)


async def test_trim_keeps_memory_bounded_but_never_drops_what_is_not_archived(scorer_factory, rclient):
    ids = log_results(rclient, 50)
    scorer = await scorer_factory()
    await scorer.process(await read_group(scorer, "w1", 30))  # 30 committed + acked
    await read_group(scorer, "w2", 5)  # 5 delivered, still pending; 15 never delivered
    assert await scorer.group.trim() == 30
    left = [sid.decode() for sid, _ in rclient.xrange(STREAM)]
    assert left == ids[30:]
    archive = DeltaTable(str(scorer.tables.archive_path))
    archived_ids = archive.to_pyarrow_table(columns=["stream_id"])["stream_id"].to_pylist()
    assert set(ids[:30]) <= set(archived_ids)


async def test_compaction_bounds_the_file_count_under_a_trickle_of_small_syncs(scorer_factory, rclient):
    scorer = await scorer_factory()
    for k in range(12):  # twelve tiny syncs, one commit each
        log_results(rclient, 2, run=f"r{k % 3}", start=k * 2)
        await scorer.process(await read_group(scorer, "w1", 100))
    gen = scorer.tables.current()
    assert len(gen.files("results")) == 12 and len(gen.files("run_stats")) == 12
    scorer.tables.compact()
    assert len(gen.files("results")) == 1 and len(gen.files("run_stats")) == 1
    assert rows(scorer.tables) == [(24, 24)]
    stats = {r["run"]: r["total"] for r in latest_stats(gen.files("run_stats")).to_pylist()}
    assert stats == {"r0": 8, "r1": 8, "r2": 8}  # incremental syncs summed right
