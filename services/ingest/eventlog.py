"""The event log adapter: appends to the partitioned Redis stream.

Every write is one Lua script call (one round trip), atomic on the server: the run's state
check, the result-id dedupe, the XADDs and the idempotency record all happen together or
not at all, so a retried request can neither double-count nor half-apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import orjson
import redis.asyncio as aioredis

from services.common import streams

Mode = Literal["create", "append", "complete"]

# KEYS: stream, run hash, result-id set, [idempotency record]
# ARGV: mode, fingerprint, idem_ttl_ms, retention_ms, source, run_mode, complete(0/1),
#       created_event, completed_event, agent, run, n, result ids, entries
# Ids and entries travel as two blobs joined by \x1e (RS): neither a validated id nor JSON
# text can contain a raw control character, and two big arguments pack far faster than 2n.
_APPEND_LUA = r"""
local mode, fp, idem_ttl, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local source, run_mode, complete = ARGV[5], ARGV[6], ARGV[7] == '1'
local created_event, completed_event, agent, run = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local n = tonumber(ARGV[12])
local rids, entries = ARGV[13], ARGV[14]
local function split(blob)
  local out, pos = {}, 1
  for i = 1, n do
    local stop = string.find(blob, '\30', pos, true) or (#blob + 1)
    out[i] = string.sub(blob, pos, stop - 1)
    pos = stop + 1
  end
  return out
end
if #KEYS == 4 then
  local prev = redis.call('GET', KEYS[4])
  if prev then
    local rec = cjson.decode(prev)
    if rec.fp ~= fp then return {'conflict', ''} end
    return {'replay', prev}
  end
end
local state = redis.call('HGET', KEYS[2], 'status')
local created = 0
if mode == 'create' then
  if state then return {'exists', state} end
  redis.call('HSET', KEYS[2], 'status', 'running', 'source', source, 'mode', run_mode, 'accepted', 0)
  redis.call('XADD', KEYS[1], '*', '__data__', created_event)
  state = 'running'
  created = 1
else
  if (not state) or state == 'deleted' then return {'missing', ''} end
  if state == 'completed' then
    -- a completed run takes no new results; a pure retry of old ones is a no-op
    for _, rid in ipairs(split(rids)) do
      if redis.call('SISMEMBER', KEYS[3], rid) == 0 then return {'completed', ''} end
    end
  end
  source = redis.call('HGET', KEYS[2], 'source')
end
local accepted = 0
if n > 0 then
  local ids, events = split(rids), split(entries)
  -- one membership query and one SADD for the batch, not one call per id
  local known = redis.call('SMISMEMBER', KEYS[3], unpack(ids))
  redis.call('SADD', KEYS[3], unpack(ids))
  local seen = {}
  for i = 1, n do
    local id = ids[i]
    if known[i] == 0 and not seen[id] then
      seen[id] = true
      redis.call('XADD', KEYS[1], '*', '__data__', events[i])
      accepted = accepted + 1
    end
  end
end
if complete and state ~= 'completed' then
  redis.call('HSET', KEYS[2], 'status', 'completed')
  redis.call('XADD', KEYS[1], '*', '__data__', completed_event)
  state = 'completed'
end
local total = redis.call('HINCRBY', KEYS[2], 'accepted', accepted)
redis.call('PEXPIRE', KEYS[2], retention)
if n > 0 then redis.call('PEXPIRE', KEYS[3], retention) end
local answer = cjson.encode({fp = fp, created = created, accepted = accepted, duplicates = n - accepted,
  status = state, source = source, total = total, agent = agent, run = run})
if #KEYS == 4 then redis.call('SET', KEYS[4], answer, 'PX', idem_ttl) end
return {'ok', answer}
"""


# KEYS: stream, run hash, result-id set, deleted-runs set
# ARGV: RunDeleted event, deleted-set member
# The run hash keeps state 'deleted' with no expiry: ingest refuses appends and re-creation of
# the id, and readers hide the run, for good. Deleting twice logs one tombstone.
_DELETE_LUA = r"""
local state = redis.call('HGET', KEYS[2], 'status')
if state == 'deleted' then return {'already', ''} end
redis.call('HSET', KEYS[2], 'status', 'deleted')
redis.call('PERSIST', KEYS[2])
redis.call('DEL', KEYS[3])
redis.call('SADD', KEYS[4], ARGV[2])
local id = redis.call('XADD', KEYS[1], '*', '__data__', ARGV[1])
return {'ok', id}
"""


@dataclass(frozen=True)
class AppendOutcome:
    """What the script did: ``kind`` is ok / replay / conflict / exists / missing / completed."""

    kind: str
    created: bool = False
    accepted: int = 0
    duplicates: int = 0
    status: str = ""
    source: str = ""
    total: int = 0


@dataclass(frozen=True)
class AppendRequest:
    agent: str
    run: str
    mode: Mode
    fingerprint: str
    idempotency_digest: str | None
    source: str = "api"
    run_mode: str = "sync"
    complete: bool = False
    created_event: bytes = b""
    completed_event: bytes = b""
    result_ids: tuple[str, ...] | list[str] = ()
    entries_blob: bytes = b""  # the events, joined by \x1e


class EventLog:
    """Appends events for one run in one atomic round trip; reads backlog for backpressure."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        partitions: int,
        group: str,
        idempotency_ttl_s: int = 24 * 3600,
        retention_s: int = 30 * 24 * 3600,
        backlog_refresh_s: float = 0.5,
    ) -> None:
        self._redis = client
        self._partitions = partitions
        self._group = group
        self._idem_ttl_ms = idempotency_ttl_s * 1000
        self._retention_ms = retention_s * 1000
        self._script = client.register_script(_APPEND_LUA)
        self._delete_script = client.register_script(_DELETE_LUA)
        self._backlog_refresh_s = backlog_refresh_s
        self._backlog: dict[int, tuple[float, int]] = {}

    def partition(self, agent: str, run: str) -> int:
        return streams.partition_of(agent, run, self._partitions)

    async def append(self, req: AppendRequest) -> AppendOutcome:
        p = self.partition(req.agent, req.run)
        keys = [
            streams.stream_key(p),
            streams.run_key(p, req.agent, req.run),
            streams.result_ids_key(p, req.agent, req.run),
        ]
        if req.idempotency_digest:
            keys.append(streams.idempotency_key(p, req.idempotency_digest))
        args: list[str | bytes | int] = [
            req.mode, req.fingerprint, self._idem_ttl_ms, self._retention_ms, req.source, req.run_mode,
            1 if req.complete else 0, req.created_event or b"", req.completed_event or b"",
            req.agent, req.run, len(req.result_ids), "\x1e".join(req.result_ids).encode(),
            req.entries_blob,
        ]  # fmt: skip
        kind, answer = await self._script(keys=keys, args=args)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind not in ("ok", "replay"):
            return AppendOutcome(kind=kind, status=answer.decode() if isinstance(answer, bytes) else answer)
        rec = orjson.loads(answer)
        return AppendOutcome(
            kind=kind,
            created=bool(rec["created"]),
            accepted=int(rec["accepted"]),
            duplicates=int(rec["duplicates"]),
            status=rec["status"],
            source=rec["source"],
            total=int(rec["total"]),
        )

    async def delete(self, agent: str, run: str, event: bytes) -> bool:
        """Mark the run deleted and log its ``RunDeleted`` tombstone, atomically in one round trip.
        False when it was already deleted (nothing is logged twice)."""
        p = self.partition(agent, run)
        keys = [streams.stream_key(p), streams.run_key(p, agent, run), streams.result_ids_key(p, agent, run),
                streams.deleted_runs_key(p)]  # fmt: skip
        kind, _ = await self._delete_script(keys=keys, args=[event, f"{agent}\x1f{run}"])
        return (kind.decode() if isinstance(kind, bytes) else kind) == "ok"

    async def backlog(self, partition: int) -> int:
        """Events in ``partition`` the scorer group has not yet consumed and acked (cached briefly)."""
        now = time.monotonic()
        cached = self._backlog.get(partition)
        if cached and now - cached[0] < self._backlog_refresh_s:
            return cached[1]
        value = await self._read_backlog(streams.stream_key(partition))
        self._backlog[partition] = (now, value)
        return value

    async def _read_backlog(self, key: str) -> int:
        try:
            groups = await self._redis.xinfo_groups(key)
        except aioredis.ResponseError:  # no such key yet
            return 0
        for g in groups:
            name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
            if name == self._group:
                lag = g.get("lag")
                if lag is None:  # Redis cannot compute it (entries deleted): be conservative
                    lag = await self._redis.xlen(key)
                return int(lag) + int(g.get("pending", 0))
        return int(await self._redis.xlen(key))  # no scorer has started: everything is backlog
