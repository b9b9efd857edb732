"""Numbers for people: thousands separators, durations in ms / s / min, money, signed deltas. Pure."""

from __future__ import annotations

import json
import math

DASH = "—"
_LABELS = {"tool_usage": "Tool usage", "knowledge": "Knowledge", "safety": "Safety", "runtime": "Runtime",
           "other": "Other", "has_failures": "Has failures", "all_passed": "All passed", "llm_call": "LLM call",
           "tool_call": "Tool call"}  # fmt: skip


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value) -> str:
    """``10000`` → ``10,000``; floats keep one decimal when they have one."""
    if _missing(value):
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def score(value) -> str:
    """A BSS/AQS on 0–100: ``72.5``, ``81``."""
    if _missing(value):
        return DASH
    return f"{value:.1f}".removesuffix(".0")


def percent(value) -> str:
    if _missing(value):
        return DASH
    return f"{value:.1f}".removesuffix(".0") + "%"


def duration(ms) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 12 s``, ``1 h 03 min``."""
    if _missing(ms) or ms < 0:
        return DASH
    if ms < 1000:
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f}".removesuffix(".0") + " ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}".removesuffix(".0") + " s"
    total = round(s)
    if total < 3600:
        m, sec = divmod(total, 60)
        return f"{m} min {sec} s" if sec else f"{m} min"
    h, rest = divmod(total, 3600)
    return f"{h} h {rest // 60:02d} min"


def money(usd, currency: str = "USD") -> str:
    """``$0.0042`` below a dollar (four decimals: LLM calls are cheap), ``$1,234.50`` above."""
    if _missing(usd):
        return DASH
    sign = "-" if usd < 0 else ""
    usd = abs(usd)
    symbol = "$" if currency == "USD" else f"{currency} "
    if usd == 0:
        return f"{symbol}0.00"
    if usd < 0.0001:
        return f"{sign}< {symbol}0.0001"
    return f"{sign}{symbol}{usd:,.4f}" if usd < 1 else f"{sign}{symbol}{usd:,.2f}"


def signed(value) -> str:
    """A delta with its direction: ``+9``, ``−3.5``, ``±0``."""
    if _missing(value):
        return DASH
    text = f"{abs(value):.1f}".removesuffix(".0")
    if value > 0:
        return f"+{text}"
    return f"−{text}" if value < 0 else "±0"


def label(key) -> str:
    """``tool_usage`` → ``Tool usage``."""
    if not key:
        return DASH
    return _LABELS.get(key) or str(key).replace("_", " ").capitalize()


def when(iso: str | None) -> str:
    """An API timestamp as UTC text (``2026-12-07 23:16 UTC``); the page's script shows it in
    the viewer's own time zone."""
    if not iso:
        return DASH
    return f"{iso[:10]} {iso[11:16]} UTC"


def pretty(value) -> str:
    """A JSON value indented for reading (the template escapes it like any other text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


FILTERS = {"when": when, "pretty": pretty, "number": number, "score": score, "percent": percent,
           "duration": duration, "money": money, "signed": signed, "label": label}  # fmt: skip
