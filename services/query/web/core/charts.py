"""SVG geometry for the dashboard's charts, computed on the server: no chart library, no script,
nothing to fetch. Pure: numbers in, path data and coordinates out; templates draw them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# one colour per failure category, readable on white and told apart by people with red-green
# colour blindness (the legend also names each slice and its count)
CATEGORY_COLOURS = {"tool_usage": "#e69f00", "knowledge": "#0072b2", "safety": "#d55e00", "runtime": "#cc79a7",
                    "other": "#7f7f7f"}  # fmt: skip


@dataclass(frozen=True)
class Slice:
    key: str
    value: int
    share: float  # 0..1
    colour: str
    path: str  # SVG path data; a whole circle when the slice is everything


def pie(counts: Mapping[str, int], radius: float = 50.0, centre: float = 50.0) -> list[Slice]:
    """Slices of a pie for ``counts`` (zero counts are left out), clockwise from twelve o'clock."""
    items = [(k, int(v)) for k, v in counts.items() if v and v > 0]
    total = sum(v for _, v in items)
    out: list[Slice] = []
    angle = -math.pi / 2
    for key, value in items:
        share = value / total
        colour = CATEGORY_COLOURS.get(key, "#999999")
        if value == total:
            r, c = radius, centre
            path = f"M {c - r:.3f} {c:.3f} a {r:.3f} {r:.3f} 0 1 0 {2 * r:.3f} 0 a {r:.3f} {r:.3f} 0 1 0 {-2 * r:.3f} 0 Z"
            out.append(Slice(key, value, 1.0, colour, path))
            break
        end = angle + share * 2 * math.pi
        x0, y0 = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
        x1, y1 = centre + radius * math.cos(end), centre + radius * math.sin(end)
        large = 1 if share > 0.5 else 0
        path = f"M {centre:.3f} {centre:.3f} L {x0:.3f} {y0:.3f} A {radius:.3f} {radius:.3f} 0 {large} 1 {x1:.3f} {y1:.3f} Z"
        out.append(Slice(key, value, share, colour, path))
        angle = end
    return out


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    label: str  # the run id (and its date), for the point's tooltip


@dataclass(frozen=True)
class Line:
    name: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def trend(rows: Sequence[Mapping], keys: Sequence[str] = ("aqs", "bss"), width: float = 240, height: float = 64,
          pad: float = 4) -> list[Line]:  # fmt: skip
    """Lines of scores on a fixed 0–100 axis (so two agents' charts compare at a glance), one
    point per run, oldest on the left; runs without a score leave no point."""
    n = len(rows)
    step = (width - 2 * pad) / (n - 1) if n > 1 else 0.0
    lines = []
    for key in keys:
        points = []
        for i, row in enumerate(rows):
            value = row.get(key)
            if value is None:
                continue
            x = pad + i * step if n > 1 else width / 2
            y = pad + (1 - max(0.0, min(100.0, float(value))) / 100) * (height - 2 * pad)
            points.append(Point(x, y, float(value), str(row.get("test_run_id") or "")))
        lines.append(Line(key, points))
    return lines


def bar_width(value: float | None, most: float | None, width: float = 100.0) -> float:
    """A bar's length for ``value`` against the largest of its kind (0 for nothing)."""
    if not value or not most or most <= 0:
        return 0.0
    return round(max(1.0, width * min(1.0, value / most)), 2)


@dataclass(frozen=True)
class TraceRow:
    at: str | None
    kind: str
    name: str | None
    duration_ms: float | None
    bar: float  # 0..100: the duration against the longest event of the trace
    data: object


def timeline(trace: Sequence[object]) -> list[TraceRow]:
    """The behavioural trace as rows for a timeline, whatever shape the stored events have."""
    events = [e for e in trace if isinstance(e, Mapping)]
    durations = [e.get("duration_ms") for e in events]
    longest = max([d for d in durations if isinstance(d, int | float) and math.isfinite(d)] + [0])
    rows = []
    for e in events:
        d = e.get("duration_ms")
        d = float(d) if isinstance(d, int | float) and math.isfinite(d) else None
        at, kind, name = e.get("at"), e.get("kind"), e.get("name")
        rows.append(TraceRow(at if isinstance(at, str) else None, kind if isinstance(kind, str) and kind else "event",
                             name if isinstance(name, str) else None, d, bar_width(d, longest), e.get("data")))  # fmt: skip
    return rows
