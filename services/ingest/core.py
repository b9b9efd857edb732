"""Pure ingest logic: validated requests in, serialized stream events out.

No Redis, no clock, no randomness in here: callers pass ``sync_id`` and ``at`` so the
same input always yields the same events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import TypeAdapter

from schemas.events import SCHEMA_VERSION
from schemas.wire import TestCaseResult
from services.ingest.redact import redact_result

_RESULTS = TypeAdapter(list[TestCaseResult])


@dataclass(frozen=True)
class PreparedResults:
    """One stream entry per result, with the ids the run-level dedupe checks."""

    result_ids: list[str]
    entries: list[bytes]


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_type: str, *, event_id: str, agent: str, run: str, at: str, payload: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "type": event_type,
            "schema_version": SCHEMA_VERSION,
            "agent": agent,
            "run": run,
            "at": at,
            "payload": payload,
        }
    )


def prepare_results(
    results: Sequence[TestCaseResult],
    *,
    agent: str,
    run: str,
    source: str,
    sync_id: str,
    at: datetime,
    redact: bool = True,
) -> PreparedResults:
    """Redact, fill in missing result ids (``<sync_id>-<n>``) and serialize one event per result."""
    stamp = iso(at)
    dicts = _RESULTS.dump_python(list(results), mode="json")
    ids: list[str] = []
    entries: list[bytes] = []
    for n, result in enumerate(dicts):
        if redact:
            result = redact_result(result)
        rid = result.get("result_id") or f"{sync_id}-{n:04d}"
        result["result_id"] = rid
        ids.append(rid)
        payload = {"sync_id": sync_id, "source": source, "results": [result]}
        entries.append(
            envelope("ResultsSynced", event_id=f"{sync_id}.{n}", agent=agent, run=run, at=stamp, payload=payload)
        )
    return PreparedResults(ids, entries)


def derived_run_id(principal_key_id: str, agent: str, idempotency_key: str) -> str:
    """A retried create-with-Idempotency-Key must land on the same run: derive its id."""
    h = hashlib.blake2b(f"{principal_key_id}\x1f{agent}\x1f{idempotency_key}".encode(), digest_size=8)
    return f"tr_{h.hexdigest()}"


def request_fingerprint(*parts: str | bytes) -> str:
    """Digest of what a request asked for; a reused Idempotency-Key must match it."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\x1f")
    return h.hexdigest()
