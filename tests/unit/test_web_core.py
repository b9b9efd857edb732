"""The dashboard's pure pieces: numbers for people, chart geometry, the custom date range."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.query.core.params import InvalidQuery
from services.query.web.core import charts, fmt
from services.query.web.core.dates import custom_range
from services.query.web.render import env, local_path

pytestmark = pytest.mark.unit


def test_numbers_for_people():
    assert fmt.number(10000) == "10,000" and fmt.number(None) == "—" and fmt.number(1234.56) == "1,234.6"
    assert fmt.score(72.0) == "72" and fmt.score(72.46) == "72.5" and fmt.score(float("nan")) == "—"
    assert fmt.percent(80.0) == "80%" and fmt.percent(66.67) == "66.7%"
    assert [fmt.duration(v) for v in (0.5, 850, 12_300, 252_000, 3_780_000)] == [
        "0.5 ms", "850 ms", "12.3 s", "4 min 12 s", "1 h 03 min"]
    assert fmt.money(0.004213) == "$0.0042" and fmt.money(1234.5) == "$1,234.50" and fmt.money(0) == "$0.00"
    assert fmt.money(0.00001) == "< $0.0001" and fmt.money(None) == "—"
    assert (fmt.signed(9), fmt.signed(-3.5), fmt.signed(0)) == ("+9", "−3.5", "±0")
    assert fmt.label("tool_usage") == "Tool usage" and fmt.label("llm_call") == "LLM call"
    assert fmt.when("2026-12-07T23:16:08.123Z") == "2026-12-07 23:16 UTC"


def test_a_pie_closes_and_leaves_out_empty_categories():
    slices = charts.pie({"tool_usage": 1, "knowledge": 0, "safety": 3})
    assert [s.key for s in slices] == ["tool_usage", "safety"]
    assert math.isclose(sum(s.share for s in slices), 1.0)
    assert slices[1].path.split()[-1] == "Z" and " 0 1 1 " in slices[1].path  # the large arc for 3/4
    whole = charts.pie({"safety": 2})
    assert len(whole) == 1 and whole[0].share == 1.0 and whole[0].path.count(" a ") == 2  # a full circle
    assert charts.pie({"safety": 0}) == []


@given(st.lists(st.one_of(st.none(), st.floats(0, 100)), max_size=40))
def test_trend_points_stay_inside_the_chart(values):
    rows = [{"test_run_id": f"tr_{i}", "aqs": v, "bss": v} for i, v in enumerate(values)]
    for line in charts.trend(rows, width=240, height=64, pad=4):
        assert len(line.points) == sum(v is not None for v in values)
        assert all(4 - 1e-9 <= p.x <= 236 + 1e-9 and 4 - 1e-9 <= p.y <= 60 + 1e-9 for p in line.points)
        assert [p.x for p in line.points] == sorted(p.x for p in line.points)  # oldest on the left


def test_the_timeline_takes_any_stored_shape():
    rows = charts.timeline([{"at": "2026-01-01T00:00:00Z", "kind": "tool_call", "name": "x", "duration_ms": 50},
                            {"kind": "", "duration_ms": float("inf")}, "not an event",
                            {"at": 5, "kind": "llm_call", "duration_ms": 100}])  # fmt: skip
    assert [(r.kind, r.bar) for r in rows] == [("tool_call", 50.0), ("event", 0.0), ("llm_call", 100.0)]
    assert rows[1].duration_ms is None and rows[2].at is None


def test_custom_range_is_in_the_viewers_time_zone():
    # Berlin in winter: getTimezoneOffset() = -60, so local midnight is 23:00 UTC the day before
    assert custom_range("2026-12-01", "2026-12-02", -60) == ("2026-11-30T23:00:00Z", "2026-12-02T23:00:00Z")
    assert custom_range("2026-12-01", None, 300) == ("2026-12-01T05:00:00Z", None)
    with pytest.raises(InvalidQuery, match="from must be a date"):
        custom_range("yesterday", None, 0)
    with pytest.raises(InvalidQuery, match="on or before"):
        custom_range("2026-12-03", "2026-12-01", 0)
    with pytest.raises(InvalidQuery, match="tz must be"):
        custom_range("2026-12-01", None, 5000)


def test_redirects_stay_on_this_site():
    assert local_path("/agent/a/test-runs/b?status=failed") == "/agent/a/test-runs/b?status=failed"
    for hostile in ("//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "", None):
        assert local_path(hostile) == "/test-runs"


def test_templates_escape_untrusted_text():
    html = env.from_string("<p>{{ v }}</p><pre>{{ d|pretty }}</pre>").render(
        v="<script>alert(1)</script>", d={"x": "</pre><script>"})
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
