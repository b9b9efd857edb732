"""Redis side of the scorer: consumer groups, reclaiming, dead letters, acks."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from services.common import streams
from services.common.deadletters import dead_letter_key
from services.scorer.core.project import Entry
from services.scorer.folds import FOLD_TTL_S, Fold, Mark, Run, decode_all, next_mark, settled_mark, stream_mark

# Runs whose stats need recomputing: a hash of run -> a counter every ack that touches the run
# bumps. A refresh cleans a run only if its counter is still what it read before its snapshot,
# so an ack that lands while it computes (rows its snapshot may not hold) keeps the run dirty.
DIRTY_RUNS = f"{streams.PREFIX}:stats:dirty-runs"
OLD_DIRTY_RUNS = f"{streams.PREFIX}:stats:dirty"  # the set earlier versions kept: moved by ensure()
_CLEAN_IF_UNCHANGED = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""
STATS_WRITER = f"{streams.PREFIX}:stats-writer"  # the lease every writer of run stats holds


def stats_epoch_key(generation: str) -> str:
    """Bumped by a re-score that rewrites rows of ``generation``: folds made before are retired."""
    return f"{streams.PREFIX}:stats:epoch:{generation}"


def fold_key(partition: int, generation: str, epoch: int, agent: str, run: str) -> str:
    return f"{streams.PREFIX}:{{p{partition}}}:fold:{generation}:{epoch}:{agent}:{run}"


def errors_key(partition: int) -> str:
    return f"{streams.PREFIX}:{{p{partition}}}:errors"


class Group:
    """The scorer group on every partition. Safe to use from several workers at once."""

    def __init__(self, client: aioredis.Redis, partitions: int, group: str) -> None:
        self.redis = client
        self.partitions = partitions
        self.group = group

    async def ensure(self) -> None:
        """Create the group at 0 (not FastStream's ``$``), so events logged before any worker started are scored."""
        for p in range(self.partitions):
            try:
                await self.redis.xgroup_create(streams.stream_key(p), self.group, id="0", mkstream=True)
            except aioredis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        if await self.redis.type(OLD_DIRTY_RUNS) in (b"set", "set"):  # left by an earlier version
            members = await self.redis.smembers(OLD_DIRTY_RUNS)
            pipe = self.redis.pipeline(transaction=True)
            for m in members:
                pipe.hincrby(DIRTY_RUNS, m, 1)
            pipe.delete(OLD_DIRTY_RUNS)
            await pipe.execute()

    async def ack(self, entries: list[Entry], *, retried: bool = False,
                  dirty_runs: set[tuple[str, str]] = frozenset()) -> None:  # fmt: skip
        """XACK, and remember in the same round trip which runs need their stats recomputed."""
        by_partition: dict[int, list[str]] = {}
        for e in entries:
            by_partition.setdefault(e.partition, []).append(e.stream_id)
        pipe = self.redis.pipeline(transaction=False)
        for p, ids in by_partition.items():
            pipe.xack(streams.stream_key(p), self.group, *ids)
            if retried:  # only a redelivered entry can have an error on record
                pipe.hdel(errors_key(p), *ids)
        for a, r in dirty_runs:
            pipe.hincrby(DIRTY_RUNS, f"{a}\x1f{r}", 1)
        await pipe.execute()

    async def dirty_runs(self, limit: int = 5000) -> dict[tuple[str, str], bytes]:
        """Up to ``limit`` dirty runs, each with the counter to hand back to ``clean_runs``.
        Read *before* the results snapshot their stats are computed from."""
        flat = await self.redis.hrandfield(DIRTY_RUNS, limit, withvalues=True) or []
        return {tuple(flat[i].decode().split("\x1f", 1)): flat[i + 1] for i in range(0, len(flat), 2)}  # type: ignore[misc]

    async def clean_runs(self, runs: dict[tuple[str, str], bytes]) -> None:
        """Called after their stats were written: each run whose counter is unchanged since
        ``dirty_runs`` is clean; one acked again meanwhile stays dirty for the next refresh."""
        if runs:
            args = [x for (a, r), seen in runs.items() for x in (f"{a}\x1f{r}", seen)]
            await self.redis.eval(_CLEAN_IF_UNCHANGED, 1, DIRTY_RUNS, *args)

    async def settled_marks(self) -> dict[int, Mark]:
        """Per partition, the id below which every entry is acknowledged (so committed): the
        oldest pending entry, else the next one to be delivered. Read *before* the results
        snapshot that is folded against it."""
        return (await self.marks_and_lag())[0]

    async def marks_and_lag(self) -> tuple[dict[int, Mark], int]:
        """``settled_marks`` and, read with them, the group's lag: entries not delivered yet.

        Per partition the last delivered id is read before the pending entries (a pipeline keeps
        the order): an entry delivered in between only lowers the mark, one acked in between is
        committed. No transaction, so partitions may live on different Redis Cluster nodes."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.xinfo_groups(streams.stream_key(p))
            pipe.xpending(streams.stream_key(p), self.group)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except aioredis.ResponseError:
            return {}, 0
        marks: dict[int, Mark] = {}
        lag = 0
        for p in range(self.partitions):
            groups, pending = replies[2 * p], replies[2 * p + 1]
            if isinstance(groups, Exception) or isinstance(pending, Exception):
                continue  # no stream or no group yet: nothing settled there
            mine = next((g for g in groups if g["name"] in (self.group, self.group.encode())), None)
            if mine is not None:
                marks[p] = settled_mark(mine["last-delivered-id"], pending["min"] if pending["pending"] else None)
                lag += int(mine.get("lag") or 0)
        return marks, lag

    async def stats_epoch(self, generation: str) -> int:
        return int(await self.redis.get(stats_epoch_key(generation)) or 0)

    async def folds(self, generation: str, epoch: int, runs: list[Run]) -> dict[Run, Fold]:
        if not runs:
            return {}
        pipe = self.redis.pipeline(transaction=False)  # one GET a run: keys of several partitions
        for a, r in runs:
            pipe.get(fold_key(streams.partition_of(a, r, self.partitions), generation, epoch, a, r))
        return decode_all(runs, await pipe.execute())

    async def save_folds(self, generation: str, epoch: int, folds: dict[Run, Fold]) -> None:
        if not folds:
            return
        pipe = self.redis.pipeline(transaction=False)
        for (a, r), fold in folds.items():
            pipe.set(fold_key(streams.partition_of(a, r, self.partitions), generation, epoch, a, r), fold.encode(),
                     ex=FOLD_TTL_S)  # fmt: skip
        await pipe.execute()

    async def record_failures(self, failures: list[tuple[Entry, str]]) -> None:
        """Remember why entries failed; they stay pending and are retried after the idle timeout."""
        pipe = self.redis.pipeline(transaction=False)
        for entry, error in failures:
            pipe.hset(errors_key(entry.partition), entry.stream_id, error[:2000])
        await pipe.execute()

    async def claim(self, consumer: str, min_idle_ms: int, max_deliveries: int, count: int = 500) -> list[Entry]:
        """Take over entries pending too long (a crashed or stuck worker's); too-often-failed ones go
        to the dead-letter stream instead. Loops XAUTOCLAIM over its cursor."""
        claimed: list[Entry] = []
        for p in range(self.partitions):
            key, cursor = streams.stream_key(p), "0-0"
            while True:
                cursor, messages, _deleted = await self.redis.xautoclaim(
                    key, self.group, consumer, min_idle_ms, start_id=cursor, count=count
                )
                ids = [m[0] for m in messages if m[1]]
                if ids:
                    deliveries = await self._deliveries(key, ids)
                    for stream_id, fields in messages:
                        if not fields:
                            continue
                        sid = stream_id.decode()
                        entry = Entry(p, sid, fields[b"__data__"])
                        if deliveries.get(sid, 1) > max_deliveries:
                            await self._bury(entry, deliveries[sid])
                        else:
                            claimed.append(entry)
                if cursor in (b"0-0", "0-0"):
                    break
        return claimed

    async def _deliveries(self, key: str, ids: list[bytes]) -> dict[str, int]:
        rows = await self.redis.xpending_range(key, self.group, min=ids[0], max=ids[-1], count=len(ids) * 2)
        return {r["message_id"].decode(): int(r["times_delivered"]) for r in rows}

    async def _bury(self, entry: Entry, deliveries: int) -> None:
        error = await self.redis.hget(errors_key(entry.partition), entry.stream_id)
        key = streams.stream_key(entry.partition)
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(dead_letter_key(entry.partition), {
            "stream_id": entry.stream_id, "error": error or b"unknown (no error recorded)",
            "deliveries": deliveries, "at": int(time.time() * 1000), "__data__": entry.data,
        })  # fmt: skip
        pipe.xack(key, self.group, entry.stream_id)
        pipe.hdel(errors_key(entry.partition), entry.stream_id)
        await pipe.execute()

    async def trim(self) -> int:
        """XTRIM MINID each partition up to what the group has acknowledged (and so archived).

        Entries still pending or not yet delivered stay; an acknowledged entry was committed
        to the tables and the archive before its XACK, so the archive replaces it for replays.
        """
        removed = 0
        for p in range(self.partitions):
            key = streams.stream_key(p)
            groups = {g["name"].decode(): g for g in await self.redis.xinfo_groups(key)}
            mine = groups.get(self.group)
            if mine is None:
                continue
            # never trim past what any group on this stream still needs
            floor = min(next_mark(g["last-delivered-id"]) for g in groups.values())
            pending = await self.redis.xpending(key, self.group)
            if pending["pending"]:
                floor = min(floor, stream_mark(pending["min"]))
            removed += await self.redis.xtrim(key, minid=f"{floor[0]}-{floor[1]}", approximate=False)
        return removed
