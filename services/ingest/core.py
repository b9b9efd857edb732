"""Pure ingest logic: validated requests in, serialized stream events out.

No Redis, no clock, no randomness in here: callers pass ``sync_id`` and ``at`` so the
same input always yields the same events.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import orjson

from schemas import fast
from schemas.events import SCHEMA_VERSION
from services.ingest.prefilter import flag_for_redaction
from services.ingest.redact import redact_result


SEP = b"\x1e"  # RS: cannot occur in validated JSON text or in a result id


@dataclass(frozen=True)
class PreparedResults:
    """One stream entry per result, with the ids the run-level dedupe checks.

    ``blob`` is every entry joined by ``SEP``: what the event log sends to Redis in one
    argument, built in one join instead of one per entry.
    """

    result_ids: list[str]
    blob: bytes

    @property
    def entries(self) -> list[bytes]:
        return self.blob.split(SEP) if self.blob else []


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
    batch: fast.Batch,
    *,
    agent: str,
    run: str,
    source: str,
    sync_id: str,
    at: datetime,
    redact: bool = True,
) -> PreparedResults:
    """Redact, fill in missing result ids (``<sync_id>-<n>``) and serialize one event per result.

    The envelope is assembled around each result's JSON bytes (the same shape ``envelope``
    writes): the client's own bytes when the result has its id, else the result re-encoded
    with a server-made one. Only results the pre-check flags are decoded again for the full
    redactor.
    """
    head = orjson.dumps(
        {"type": "ResultsSynced", "schema_version": SCHEMA_VERSION, "agent": agent, "run": run, "at": iso(at)}
    )[1:-1]
    payload_head = orjson.dumps({"sync_id": sync_id, "source": source})[:-1] + b',"results":['
    sid = orjson.dumps(sync_id)[1:-1]
    encode = fast.RESULT_ENCODER.encode
    datas: list[bytes] = list(batch.spans)  # type: ignore[arg-type]
    ids: list[str] = list(batch.ids)  # type: ignore[arg-type]
    for n, r in batch.unnamed.items():
        ids[n] = f"{sync_id}-{n:04d}"
        datas[n] = encode(msgspec.structs.replace(r, result_id=ids[n]))
    if redact:
        for n in flag_for_redaction(datas):
            datas[n] = encode(redact_result(msgspec.json.decode(datas[n])))  # msgspec: ints of any size
    middle = b"," + head + b',"payload":' + payload_head
    pieces: list[bytes] = []
    for n, data in enumerate(datas):
        pieces += (b'{"event_id":"%s.%d"' % (sid, n), middle, data, b"]}}", SEP)
    return PreparedResults(ids, b"".join(pieces[:-1]))


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
