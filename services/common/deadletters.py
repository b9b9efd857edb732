"""Dead letters: stream entries the scorer gave up on, kept with their last error.

The scorer writes them (``services.scorer.consumer``); the admin API lists and re-drives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from services.common import streams


def dead_letter_key(partition: int) -> str:
    return f"{streams.PREFIX}:{{p{partition}}}:dead"


@dataclass(frozen=True)
class DeadLetter:
    dead_id: str
    partition: int
    stream_id: str
    error: str
    deliveries: int
    data: bytes


def _letter(partition: int, dead_id: bytes, f: dict[bytes, bytes]) -> DeadLetter:
    return DeadLetter(dead_id.decode(), partition, f[b"stream_id"].decode(), f[b"error"].decode(),
                      int(f[b"deliveries"]), f[b"__data__"])  # fmt: skip


async def list_dead_letters(client: aioredis.Redis, partitions: int, count: int = 100) -> list[DeadLetter]:
    out = []
    for p in range(partitions):
        for dead_id, f in await client.xrange(dead_letter_key(p), count=count):
            out.append(_letter(p, dead_id, f))
    return out


async def get_dead_letter(client: aioredis.Redis, partition: int, dead_id: str) -> DeadLetter | None:
    try:
        found = await client.xrange(dead_letter_key(partition), min=dead_id, max=dead_id)
    except aioredis.ResponseError:  # not a stream id
        return None
    return _letter(partition, *found[0]) if found else None


async def redrive(client: aioredis.Redis, dead: DeadLetter) -> str:
    """Put a dead letter back on its partition's stream (as a new entry) and drop it from the dead letters."""
    pipe = client.pipeline(transaction=True)
    pipe.xadd(streams.stream_key(dead.partition), {"__data__": dead.data})
    pipe.xdel(dead_letter_key(dead.partition), dead.dead_id)
    new_id, _ = await pipe.execute()
    return new_id.decode()
