"""A run's row of the runs list from its followed stats and lifecycle events: ``catalog.RUNS_SQL``
for a few runs. Pure.

A snapshot load patches the runs a new version touched, a few dozen under a steady trickle. For
them this is ~5 µs a run, against ~18 ms for the same SQL in DuckDB (most of it the query's
fixed cost, and more under load). The full build still runs ``RUNS_SQL``; the runs index tests
hold the two to the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
_COUNTS = ("total", "passed", "failed", "errors", "tool_usage", "knowledge", "safety", "runtime", "other_failures")
_AS_IS = ("critical", "high", "medium", "low")
_AFTER = ("cost_usd", "cost_complete", "duration_ms", "input_tokens", "output_tokens", "algorithm_version")


def _us(at: datetime | None) -> int | None:
    return None if at is None else (at - _EPOCH) // _MICROSECOND


def run_rows(stats: Iterable[dict], events: Iterable[dict]) -> list[dict[str, Any]]:
    """The rows of the runs in ``stats`` (the latest row of each run) and ``events`` (the first
    event of each type of each run), with ``RUNS_SQL``'s columns and values."""
    by_run: dict[tuple[str, str], dict] = {}
    for s in stats:
        by_run.setdefault((s["agent"], s["run"]), {})["stats"] = s
    for e in events:
        by_run.setdefault((e["agent"], e["run"]), {})[e["type"]] = e
    return [_row(agent, run, parts) for (agent, run), parts in by_run.items()]


def _row(agent: str, run: str, parts: dict[str, dict]) -> dict[str, Any]:
    s, created, completed = parts.get("stats") or {}, parts.get("RunCreated"), parts.get("RunCompleted")
    created_us = _us(created["at"]) if created else None
    dated = created is not None and created["at"] is not None  # arg_min(x, "at") skips a null "at"
    total = s.get("total") or 0
    row: dict[str, Any] = {
        "agent": agent, "run": run,
        "date_us": created_us if created_us is not None else _us(s.get("first_synced_at")),
        "completed_us": _us(completed["at"]) if completed else None,
        "source": created["source"] if dated else None, "mode": created["mode"] if dated else None,
    }  # fmt: skip
    row.update({name: s.get(name) or 0 for name in _COUNTS})
    row.update({name: s.get(name) for name in _AS_IS})
    row["bss"] = s.get("bss") if total > 0 else None
    row["aqs"] = s.get("aqs") if total > 0 else None
    row.update({name: s.get(name) for name in _AFTER})
    if row["cost_complete"] is None:
        row["cost_complete"] = True
    row["deleted"] = "RunDeleted" in parts
    return row
