"""Redis key layout of the event log.

The log is N stream keys (``INVARIUM_STREAM_PARTITIONS``). A run's partition is a stable
hash of (agent, run), so one run's events stay ordered in one stream. Every key that
belongs to a run carries its partition's hash tag ``{pN}``, so in a Redis Cluster a
partition and its run state live in one slot (atomic scripts work) while different
partitions spread over the nodes.
"""

from __future__ import annotations

import hashlib

PREFIX = "invarium"


def partition_of(agent: str, run: str, partitions: int) -> int:
    h = hashlib.blake2b(f"{agent}\x1f{run}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") % partitions


def stream_key(partition: int) -> str:
    return f"{PREFIX}:{{p{partition}}}:events"


def stream_keys(partitions: int) -> list[str]:
    return [stream_key(p) for p in range(partitions)]


def run_key(partition: int, agent: str, run: str) -> str:
    return f"{PREFIX}:{{p{partition}}}:run:{agent}:{run}"


def result_ids_key(partition: int, agent: str, run: str) -> str:
    return f"{PREFIX}:{{p{partition}}}:rids:{agent}:{run}"


def idempotency_key(partition: int, digest: str) -> str:
    return f"{PREFIX}:{{p{partition}}}:idem:{digest}"


def deleted_runs_key(partition: int) -> str:
    """Set of ``agent\\x1frun`` deleted in this partition: lets readers hide a run at once, before
    the scorer has projected its tombstone."""
    return f"{PREFIX}:{{p{partition}}}:deleted"
