"""Upcasters: bring an old event (as a JSON dict) to the current schema version.

Register one function per (type, from_version); it returns the dict at from_version + 1.
Readers call ``upcast`` before validating, so replays of an old log keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.events import EVENT_ADAPTER, SCHEMA_VERSION, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventVersion(ValueError):
    pass


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    version = raw.get("schema_version", 1)
    while version < SCHEMA_VERSION:
        step = UPCASTERS.get((raw.get("type", ""), version))
        if step is None:
            raise UnknownEventVersion(f"no upcaster for {raw.get('type')!r} v{version}")
        raw = step(raw)
        version = raw["schema_version"]
    if version > SCHEMA_VERSION:
        raise UnknownEventVersion(
            f"event {raw.get('event_id')!r} has schema_version {version}, newer than this build ({SCHEMA_VERSION})"
        )
    return raw


def parse_event(raw: dict[str, Any]) -> Event:
    return EVENT_ADAPTER.validate_python(upcast(raw))
