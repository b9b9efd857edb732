"""Query parameters in, validated filters out. Pure: the clock is an argument.

Messages are the seed's where it gives one (``page must be 1 or greater``, ``Invalid status
'…'``); the others say what to send instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.names import check_name


class InvalidQuery(ValueError):
    """Bad input: answered 400 with the message."""


class NotFound(LookupError):
    """An agent, run or result that does not exist (or was deleted): answered 404."""


RUN_STATUSES = ("all", "has_failures", "all_passed")
RESULT_STATUSES = ("passed", "failed", "error", "pending")
SOURCES = ("mcp", "ci", "cli", "api")
SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = ("tool_usage", "knowledge", "safety", "runtime", "other")
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
EXPORT_FORMATS = ("csv", "json", "jsonl")
MAX_LIMIT = 100
MAX_QUERY_TEXT = 200
MAX_EXPORT_RUNS = 1000
MAX_PAGE = 10**15  # pages past it answer as this one (empty): offsets and the echoed page stay 64-bit


@dataclass(frozen=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True)
class RunFilter:
    agents: tuple[str, ...] = ()
    since_us: int | None = None
    until_us: int | None = None
    status: str = "all"
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultFilter:
    status: str | None = None
    category: str | None = None
    severity: str | None = None
    text: str | None = None

    @property
    def only_verdicts(self) -> bool:
        """Filters that only scored results can match (pending ones have no verdict yet)."""
        return bool(self.category or self.severity or self.text)


def page_of(page: int, limit: int) -> Page:
    if page < 1:
        raise InvalidQuery("page must be 1 or greater")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery("limit must be between 1 and 100")
    return Page(min(page, MAX_PAGE), limit)


def run_id(value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidQuery("test_run_id is required and cannot be empty")
    return value


def agent_name(value: str) -> str:
    """An agent name from a path; one that could never have been stored is simply not found."""
    try:
        return check_name(value, "agent_name")
    except ValueError:
        raise NotFound(f"Agent not found: '{value}'") from None


def _time_us(value: str, what: str) -> int:
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise InvalidQuery(f"{what} must be an ISO-8601 date or datetime, e.g. 2026-11-21T10:00:00Z (got {value!r})") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1_000_000)


def run_filter(
    now: datetime, agents: Sequence[str] = (), range_: str | None = None, since: str | None = None,
    until: str | None = None, status: str | None = None, sources: Sequence[str] = (),
) -> RunFilter:  # fmt: skip
    given, status = status, (status or "all").strip().lower()
    if status not in RUN_STATUSES:
        raise InvalidQuery(f"Invalid status '{given}'")
    picked = tuple(dict.fromkeys(s.strip().lower() for s in _split(sources)))
    for s in picked:
        if s not in SOURCES:
            raise InvalidQuery(f"Invalid source '{s}': use mcp, ci, cli or api")
    since_us = until_us = None
    if range_:
        if range_ not in RANGES:
            raise InvalidQuery(f"Invalid range '{range_}': use 24h, 7d or 30d, or since/until")
        since_us = int((now - RANGES[range_]).timestamp() * 1_000_000)
    if since:
        since_us = _time_us(since, "since")
    if until:
        until_us = _time_us(until, "until")
    if since_us is not None and until_us is not None and since_us > until_us:
        raise InvalidQuery("since must be before until")
    return RunFilter(tuple(dict.fromkeys(_split(agents))), since_us, until_us, status, picked)


def result_filter(status: str | None, category: str | None, severity: str | None, q: str | None) -> ResultFilter:
    if status is not None:
        given, status = status, status.strip().lower()
        if status not in RESULT_STATUSES:
            raise InvalidQuery(f"Invalid status '{given}'")
    if category is not None:
        category = category.strip().lower()
        if category not in CATEGORIES:
            raise InvalidQuery(f"Invalid category '{category}': use tool_usage, knowledge, safety, runtime or other")
    if severity is not None:
        severity = severity.strip().lower()
        if severity not in SEVERITIES:
            raise InvalidQuery(f"Invalid severity '{severity}': use critical, high, medium or low")
    if q is not None:
        q = q.strip()
        if len(q) > MAX_QUERY_TEXT:
            raise InvalidQuery(f"q is too long ({len(q)} characters); the limit is {MAX_QUERY_TEXT}")
    return ResultFilter(status or None, category or None, severity or None, q or None)


def export_request(ids: Sequence[str], fmt: str | None) -> tuple[tuple[str, ...], str]:
    fmt = (fmt or "json").strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise InvalidQuery(f"Invalid format '{fmt}': use csv, json or jsonl")
    runs = tuple(dict.fromkeys(_split(ids)))
    if not runs:
        raise InvalidQuery("ids is required: one or more test run ids, comma-separated")
    if len(runs) > MAX_EXPORT_RUNS:
        raise InvalidQuery(f"ids: at most {MAX_EXPORT_RUNS} runs per export (got {len(runs)})")
    return runs, fmt


def _split(values: Sequence[str]) -> list[str]:
    """Repeated parameters and comma-separated lists, both: ?agent=a&agent=b or ?agent=a,b."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]
