"""The dashboard's custom date range: whole days in the viewer's time zone, as UTC instants. Pure."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.query.core.params import InvalidQuery


def _day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidQuery(f"{what} must be a date such as 2026-12-01 (got {value[:40]!r})") from None


def custom_range(start: str | None, end: str | None, tz_minutes: int) -> tuple[str | None, str | None]:
    """``since`` and ``until`` for the days ``start`` to ``end`` (both included) where the
    viewer is; ``tz_minutes`` is the browser's ``getTimezoneOffset()``: minutes behind UTC."""
    if not -900 <= tz_minutes <= 900:
        raise InvalidQuery("tz must be a time-zone offset in minutes between -900 and 900")
    out = []
    for value, what, extra in ((start, "from", 0), (end, "to", 1)):
        if not value or not value.strip():
            out.append(None)
            continue
        midnight = datetime.combine(_day(value, what) + timedelta(days=extra), datetime.min.time())
        out.append((midnight + timedelta(minutes=tz_minutes)).isoformat() + "Z")
    if out[0] and out[1] and out[0] >= out[1]:
        raise InvalidQuery("from must be on or before to")
    return out[0], out[1]
