"""What the event log (Redis) knows now and the tables may not yet: run state, accepted
counts, accepted result ids, and deleted runs.

Ingest's run hash (``status``, ``source``, ``accepted``) and result-id set are read as they
are; deletions go through the event log's atomic ``delete``. The deleted-runs sets are cached
for ``cache_s`` (and updated at once by this process's own deletes).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

import redis.asyncio as aioredis

from services.common import streams
from services.ingest.core import envelope, iso
from services.ingest.eventlog import EventLog
from services.query.core.present import LiveRun

SEP = "\x1f"
UNAVAILABLE = "Run state unavailable (Redis): retry in a few seconds"


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class LiveRuns:
    def __init__(self, client: aioredis.Redis, partitions: int, *, cache_s: float = 0.25) -> None:
        self.redis = client
        self._partitions = partitions
        self._log = EventLog(client, partitions=partitions, group="scorer")
        self._cache_s = cache_s
        self._gone: frozenset[tuple[str, str]] = frozenset()
        self._gone_at = -1e9

    def _p(self, agent: str, run: str) -> int:
        return streams.partition_of(agent, run, self._partitions)

    async def runs(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], LiveRun]:
        """The run hashes of ``pairs`` in one round trip."""
        if not pairs:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for agent, run in pairs:
            pipe.hmget(streams.run_key(self._p(agent, run), agent, run), "status", "accepted", "source", "mode")
        out = {}
        for pair, (state, accepted, source, mode) in zip(pairs, await pipe.execute()):
            out[pair] = LiveRun(_text(state), int(accepted or 0), _text(source), _text(mode))
        return out

    async def run(self, agent: str, run: str) -> LiveRun:
        return (await self.runs([(agent, run)]))[(agent, run)]

    async def result_ids(self, agent: str, run: str) -> set[str]:
        members = await self.redis.smembers(streams.result_ids_key(self._p(agent, run), agent, run))
        return {_text(m) for m in members}

    async def gone(self) -> frozenset[tuple[str, str]]:
        """Runs deleted in the event log (whether or not the scorer has projected it yet)."""
        if time.monotonic() - self._gone_at < self._cache_s:
            return self._gone
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self._partitions):
            pipe.smembers(streams.deleted_runs_key(p))
        found = set()
        for members in await pipe.execute():
            for m in members:
                agent, _, run = _text(m).partition(SEP)
                found.add((agent, run))
        self._gone, self._gone_at = frozenset(found), time.monotonic()
        return self._gone

    async def delete(self, agent: str, run: str, reason: str | None = None) -> bool:
        now = iso(datetime.now(UTC))
        event = envelope("RunDeleted", event_id=f"{secrets.token_hex(8)}.deleted", agent=agent, run=run, at=now,
                         payload={"reason": reason} if reason else {})  # fmt: skip
        done = await self._log.delete(agent, run, event)
        self._gone = self._gone | {(agent, run)}
        return done
