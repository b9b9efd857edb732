"""The scorer worker: a FastStream consumer-group subscriber per stream partition.

At-least-once delivery, exactly-once effect: a batch is projected, committed to the Delta
tables, and only then acknowledged. Entries a crashed worker left pending are reclaimed
(XAUTOCLAIM) after ``claim_idle_ms`` and re-applied with ``maybe_seen`` (rows already
committed are skipped by stream id). An entry that keeps failing goes to the dead-letter
stream after ``max_deliveries`` tries, with its last error, and never blocks the group.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage

from services.common import redisconn, streams
from services.scorer.consumer import Group
from services.scorer.core.pricing import PriceTable, default_price_table
from services.scorer.core.project import Entry, Projection, project
from services.scorer.core.risk import DEFAULT_POLICY, RiskPolicy
from services.scorer.jobs import poll_jobs
from services.scorer.livestats import LiveStats
from services.scorer.maintenance import Maintenance
from services.scorer.pruning import stream_ms
from services.scorer.settings import ScorerSettings
from services.scorer.tables import Tables

log = logging.getLogger("invarium.scorer")

class Scorer(LiveStats, Maintenance):
    """Project → commit → ack, for fresh and for reclaimed entries alike.

    ``process`` does a batch start to finish. ``submit`` (the live path) queues a batch for the
    projector task, which queues it for the committer task: a batch is projected while the last
    one is written (projection is Python, commits are Rust/DuckDB and release the GIL), and Redis
    prepares the next read's reply meanwhile. The queues hold a few batches: a slow disk slows
    reading down instead of growing memory. Run stats are refreshed from a Redis set of dirty
    runs, at most every ``stats_interval_s``.
    """

    def __init__(self, settings: ScorerSettings, group: Group, tables: Tables,
                 prices: PriceTable, policy: RiskPolicy = DEFAULT_POLICY) -> None:  # fmt: skip
        self.settings = settings
        self.group = group
        self.tables = tables
        self.prices = prices
        self.policy = policy
        self.commits = 0
        self._lock = asyncio.Lock()  # one commit at a time per worker process
        self._tail: asyncio.Future | None = None  # the last commit's stats and ack, still running
        self._queue: asyncio.Queue[tuple[list[Entry], Projection]] = asyncio.Queue(maxsize=4)
        self._read: asyncio.Queue[list[Entry]] = asyncio.Queue(maxsize=2)  # read, not yet projected
        self.stats_at = 0.0
        self.stats_cost = 0.0  # seconds the last refresh took
        self.behind = False  # more than a batch waited in the stream at the last commit
        self._stats_lock = asyncio.Lock()
        self.maintenance_due = asyncio.Event()
        self.stats_due = asyncio.Event()  # set by each commit: its runs' stats are refreshed at once
        # Set when the worker stops: every background loop ends at its next turn even if its
        # cancel was lost (redis-py can swallow one that lands while a connection closes, and a
        # loop that logs and goes on then kept a stopping worker alive for good).
        self.stopping = asyncio.Event()

    async def process(self, entries: list[Entry], *, maybe_seen: bool = False) -> int:
        """Project, commit (with fresh run stats) and ack one batch."""
        if not entries:
            return 0
        proj = await asyncio.to_thread(project, entries, self.prices, self.policy)
        await self._commit(entries, proj, maybe_seen=maybe_seen)
        await self.refresh_stats(force=True)
        return len(entries) - len(proj.failures)

    async def submit(self, entries: list[Entry]) -> None:
        """Hand a batch just read to the projector (waits while it is busy); the committer then
        writes and acks it."""
        if entries:
            await self._read.put(entries)

    async def run_projector(self) -> None:
        while not self.stopping.is_set():
            entries = await self._read.get()
            try:
                # On the event loop's thread, not in a worker thread: projection holds the GIL, so a
                # thread ran no faster, and its GIL hand-overs with the loop (reading the next reply,
                # acks) cost the process ~20 % of its throughput (2-worker drains here: median
                # 24.0k against 20.1k results/s over 5 runs each). The loop waits for a batch's
                # projection (~60 ms for 2,000 entries); Redis readies the next reply meanwhile.
                proj = project(entries, self.prices, self.policy)
                await self._queue.put((entries, proj))
            except Exception:  # noqa: BLE001 - not acked: the entries are retried after the idle timeout
                log.exception("projection of %d entries failed", len(entries))
            finally:
                self._read.task_done()

    async def run_committer(self) -> None:
        """Commit what was projected. Batches that arrive within ``min_commit_interval_s`` of
        the last commit, or are already queued, are merged into one (up to ``max_commit_entries``):
        a commit has a fixed cost (~20 ms per table here), so under a steady trickle or a backlog
        fewer, larger commits keep the worker out of CPU saturation."""
        last = 0.0
        while not self.stopping.is_set():
            entries, proj = await self._queue.get()
            taken = 1
            wait = self.settings.min_commit_interval_s - (time.monotonic() - last)
            deadline = time.monotonic() + max(0.0, wait)
            while len(entries) < self.settings.max_commit_entries:
                try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
                    # races with the get, and a stopping worker then hangs in this loop for good
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        more, more_proj = await self._queue.get()
                except TimeoutError:
                    break
                entries, proj, taken = entries + more, proj.merged(more_proj), taken + 1
            try:
                await self._commit(entries, proj, pipelined=True)
            except Exception:  # noqa: BLE001 - not acked: the entries are retried after the idle timeout
                log.exception("commit of %d entries failed", len(entries))
            finally:
                last = time.monotonic()
                for _ in range(taken):
                    self._queue.task_done()

    async def drain(self) -> None:
        await self._read.join()
        await self._queue.join()
        if self._tail is not None:
            await self._tail

    async def _commit(self, entries: list[Entry], proj: Projection, *, maybe_seen: bool = False,
                      pipelined: bool = False) -> None:  # fmt: skip
        """Commit a batch's rows, then (its *tail*) append its inline run stats and ack it.

        ``pipelined`` (the live committer): return once the rows are committed, and let the tail
        run beside the next batch's commit; at most one tail is in flight. Tails may finish in
        any order: a stats row carries the results version it was computed at (the latest wins),
        a fold is a fact whenever it is saved, and acks commute."""
        async with self._lock:
            t0, start_ms = time.perf_counter(), time.time() * 1e3
            gen = self.tables.current()
            # The stats of the batch's runs are computed while it is committed (from the snapshot
            # before it plus its own rows) and appended right after, so they show up with the
            # results instead of a refresh later. A redelivery (rows may be skipped) goes the usual way,
            # and so does a worker behind the stream: it commits back to back, throughput first.
            inline = None if maybe_seen or not proj.results.num_rows else await self._stats_before(gen, proj)
            versions: dict[str, int | None] = {}
            applied = asyncio.to_thread(self.tables.apply, proj, gen=gen, maybe_seen=maybe_seen, stats=False,
                                        versions=versions)  # fmt: skip
            if inline is None:
                await applied
            else:
                done = await asyncio.gather(applied, asyncio.to_thread(inline.compute, self.tables, proj),
                                            return_exceptions=True)  # fmt: skip
                if isinstance(done[0], BaseException):
                    raise done[0]
                if isinstance(done[1], BaseException):
                    log.warning("inline stats failed (the runs are refreshed instead): %r", done[1])
                    inline = None
            previous, self._tail = self._tail, None
        if previous is not None:
            await previous  # one tail beside the next commit, not a growing line of them
        tail = self._finish(gen, entries, proj, inline, versions.get("results"), maybe_seen, t0, start_ms)
        if not pipelined:
            await tail
            return
        self._tail = asyncio.ensure_future(_logged(tail, len(entries)))

    async def _finish(self, gen, entries: list[Entry], proj: Projection, inline, after: int | None,
                      maybe_seen: bool, t0: float, start_ms: float) -> None:  # fmt: skip
        """A committed batch's tail: its inline stats, then the ack (and its failures recorded).
        Failing, nothing is acked: the entries are retried after the idle timeout."""
        covered = await self._stats_after(gen, inline, after) if inline else frozenset()
        failed = {(e.partition, e.stream_id) for e, _ in proj.failures}
        ok = [e for e in entries if (e.partition, e.stream_id) not in failed]
        dirty = proj.runs - covered
        await self.group.ack(ok, retried=maybe_seen, dirty_runs=dirty)
        if proj.failures:
            await self.group.record_failures(proj.failures)
            log.warning("%d entries failed and stay pending for a retry", len(proj.failures))
        if log.isEnabledFor(logging.DEBUG):  # ages by the stream ids' clock (ms since the epoch)
            oldest = min(stream_ms(e.stream_id) for e in entries)
            log.debug("committed %d entries in %.0f ms (stats of %d runs with them); oldest entry %.0f ms old "
                      "at the start, %.0f ms at the end", len(entries), (time.perf_counter() - t0) * 1e3,
                      len(covered), start_ms - oldest, time.time() * 1e3 - oldest)  # fmt: skip
        self.commits += 1
        if dirty:
            self.stats_due.set()
        if self.commits % self.settings.compact_every == 0:
            self.maintenance_due.set()  # done beside the commits, not inside them

    async def reclaim_once(self, consumer: str) -> int:
        claimed = await self.group.claim(consumer, self.settings.claim_idle_ms, self.settings.max_deliveries)
        return await self.process(claimed, maybe_seen=True) if claimed else 0


async def _logged(tail, n: int) -> None:
    try:
        await tail
    except Exception:  # noqa: BLE001 - not acked: the entries are retried after the idle timeout
        log.exception("finishing the commit of %d entries failed", n)


async def _raw_batch(message: dict, original_parser):
    """Skip FastStream's batch body: it JSON-parses every entry and re-serialises the list
    (~0.4 ms per entry here), and the handler reads ``raw_message`` anyway."""
    data = message["data"]
    message["data"] = []
    try:
        return await original_parser(message)
    finally:
        message["data"] = data


def _handler(scorer: Scorer, partition: int):
    async def handle(msg: RedisStreamMessage) -> None:
        """Raw entries straight from XREADGROUP: the projection decodes them once, itself."""
        raw = msg.raw_message
        entries = [Entry(partition, sid.decode(), fields[b"__data__"])
                   for sid, fields in zip(raw["message_ids"], raw["data"])]  # fmt: skip
        await scorer.submit(entries)
        if len(entries) < scorer.settings.batch_size // 4:
            # A trickle: let more arrive before the next read. Each XREADGROUP round (FastStream,
            # the event loop, the projection's fixed part) cost ~5 ms of CPU here, 50 times a
            # second for 100-result syncs; what waits here still makes the same commit (the
            # committer merges what arrives within min_commit_interval_s anyway).
            await asyncio.sleep(scorer.settings.read_linger_s)

    return handle


def consumer_name(settings: ScorerSettings) -> str:
    return settings.consumer or f"{socket.gethostname()}-{os.getpid()}"


def build_app(settings: ScorerSettings) -> tuple[FastStream, Scorer]:
    # per-batch "Received/Processed" lines at DEBUG: one pair per 2,000 entries is noise at INFO
    # a 2,000-entry XREADGROUP reply is ~5 MB: read it in few large chunks, not 64 KiB ones (chosen
    # when projection ran in a thread and each chunk waited ~5 ms for the GIL; since projection runs
    # on the loop itself that wait is gone, and fewer read rounds still cost less: not re-measured)
    broker = RedisBroker(settings.redis_url, socket_timeout=30, log_level=logging.DEBUG, socket_read_size=4 << 20)
    client = redisconn.from_url(settings.redis_url, socket_timeout=30)  # XACKs of 10,000 ids packed in C
    group = Group(client, settings.stream_partitions, settings.scorer_group)
    scorer = Scorer(settings, group, Tables(settings.data_dir), default_price_table())
    name = consumer_name(settings)

    for partition in range(settings.stream_partitions):
        sub = StreamSub(streams.stream_key(partition), group=settings.scorer_group, consumer=name, batch=True,
                        max_records=settings.batch_size, polling_interval=settings.poll_ms)  # fmt: skip

        broker.subscriber(stream=sub, ack_policy=AckPolicy.MANUAL, parser=_raw_batch)(_handler(scorer, partition))

    app = FastStream(broker)
    tasks: list[asyncio.Task] = []

    @app.on_startup
    async def _groups() -> None:
        await group.ensure()

    @app.after_startup
    async def _reclaimer() -> None:
        async def loop() -> None:
            while not scorer.stopping.is_set():
                try:
                    await scorer.reclaim_once(name)
                except Exception:  # noqa: BLE001 - keep reclaiming; the entries stay pending
                    log.exception("reclaim failed")
                await asyncio.sleep(settings.claim_interval_s)

        async def stats_loop() -> None:  # right after a commit, at most every stats_interval_s
            while not scorer.stopping.is_set():
                try:
                    async with asyncio.timeout(settings.stats_interval_s):  # not wait_for: see run_committer
                        await scorer.stats_due.wait()
                except TimeoutError:
                    pass  # also look now and then: another worker's commits mark runs dirty too
                scorer.stats_due.clear()
                await asyncio.sleep(max(0.0, scorer.stats_gap() - (time.monotonic() - scorer.stats_at)))
                try:
                    await scorer.refresh_stats()
                except Exception:  # noqa: BLE001
                    log.exception("stats refresh failed")

        tasks.append(asyncio.create_task(loop()))
        tasks.append(asyncio.create_task(scorer.run_projector()))
        tasks.append(asyncio.create_task(scorer.run_committer()))
        tasks.append(asyncio.create_task(scorer.run_maintenance()))
        tasks.append(asyncio.create_task(stats_loop()))
        tasks.append(asyncio.create_task(poll_jobs(settings, client, scorer.stopping)))

    @app.on_shutdown
    async def _stop() -> None:
        try:  # what was read and projected gets committed and acked before we go
            await asyncio.wait_for(scorer.drain(), timeout=30)
            # bounded: runs left dirty in Redis are refreshed by the next worker
            await asyncio.wait_for(scorer.refresh_stats(force=True), timeout=10)
        except Exception:  # noqa: BLE001 - unacked entries are reclaimed by the next worker
            log.exception("shutdown flush failed")
        scorer.stopping.set()
        for task in tasks:
            task.cancel()
        # the client is closed once the loops are gone, not under a command of theirs
        await asyncio.wait(tasks, timeout=10)
        await client.aclose()

    return app, scorer
