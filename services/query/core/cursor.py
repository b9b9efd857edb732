"""Opaque keyset cursors: the sort key of the last row of a page, base64url-encoded JSON.

A cursor names the list it belongs to (``kind``), so one from the runs list cannot be
replayed against a run's results; anything that does not decode to the expected shape is
refused with a message that says what to do. A short checksum after the body makes an edited
cursor a 400 too, instead of a page from wherever the edit points (it is not a secret: a
forged cursor can reach nothing that ``page`` cannot).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import orjson

from services.query.core.params import InvalidQuery

# kind -> the types of the sort-key values, in order
SHAPES: dict[str, tuple[type, ...]] = {
    "runs": (int, str, str),  # (date in µs, agent, run): newest first, then agent, run
    "results": (int, str),  # (phase: 0 scored / 1 pending, result_id)
}
MAX_CURSOR = 2048
_TAG = b"invarium-cursor-v1"


def _check(body: str) -> str:
    return hashlib.blake2b(body.encode(), digest_size=6, key=_TAG).hexdigest()


def encode(kind: str, key: tuple) -> str:
    raw = orjson.dumps({"k": kind, "v": list(key)})
    body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return f"{body}.{_check(body)}"


def decode(kind: str, cursor: str) -> tuple:
    bad = InvalidQuery(
        "Invalid cursor: pass the next_cursor of a previous answer unchanged (or use page instead)"
    )
    if not cursor or len(cursor) > MAX_CURSOR:
        raise bad
    body, _, check = cursor.partition(".")
    if not hmac.compare_digest(check.encode(), _check(body).encode()):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        body = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise bad from None
    shape = SHAPES[kind]
    if not isinstance(body, dict) or body.get("k") != kind:
        raise bad
    values = body.get("v")
    if not isinstance(values, list) or len(values) != len(shape):
        raise bad
    for value, typ in zip(values, shape):
        if type(value) is not typ:  # bool is not an int here
            raise bad
    return tuple(values)
