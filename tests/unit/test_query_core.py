"""The query service's pure core: parameters, cursors, run status, compare, shaping."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from services.query.core import cursor, params, present
from services.query.core.compare import compare, score_change
from services.query.core.params import InvalidQuery, NotFound

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


# -- parameters: the seed's error texts ---------------------------------------------------
@pytest.mark.parametrize(("page", "limit", "message"), [
    (0, 20, "page must be 1 or greater"), (-3, 20, "page must be 1 or greater"),
    (1, 0, "limit must be between 1 and 100"), (1, 101, "limit must be between 1 and 100"),
])  # fmt: skip
def test_page_and_limit_errors_are_the_seeds(page, limit, message):
    with pytest.raises(InvalidQuery, match=f"^{message}$"):
        params.page_of(page, limit)


def test_page_offsets():
    assert params.page_of(3, 20).offset == 40 and params.page_of(1, 100).offset == 0


def test_a_page_beyond_64_bits_is_an_empty_page_not_an_overflow():
    far = params.page_of(10**30, 100)
    assert far.page == params.MAX_PAGE and far.offset < 2**63


@pytest.mark.parametrize("value", [None, "", "   "])
def test_empty_run_id_is_refused_with_the_seed_text(value):
    with pytest.raises(InvalidQuery, match="^test_run_id is required and cannot be empty$"):
        params.run_id(value)


def test_result_status_filter():
    assert params.result_filter("FAILED", None, None, None).status == "failed"
    with pytest.raises(InvalidQuery, match="^Invalid status 'bogus'$"):
        params.result_filter("bogus", None, None, None)
    with pytest.raises(InvalidQuery, match="^Invalid status 'Bogus '$"):  # the value as sent
        params.result_filter("Bogus ", None, None, None)
    with pytest.raises(InvalidQuery, match="Invalid severity"):
        params.result_filter(None, None, "urgent", None)
    with pytest.raises(InvalidQuery, match="Invalid category"):
        params.result_filter(None, "vibes", None, None)
    assert params.result_filter(None, "safety", None, " delete ").only_verdicts


def test_run_filter_ranges_sources_and_status():
    f = params.run_filter(NOW, ["a,b", "a"], "7d", None, None, "has_failures", ["CI", "mcp"])
    assert f.agents == ("a", "b") and f.sources == ("ci", "mcp") and f.status == "has_failures"
    assert f.since_us == int(datetime(2026, 11, 15, 12, tzinfo=UTC).timestamp() * 1e6)
    custom = params.run_filter(NOW, since="2026-11-01", until="2026-11-02T00:00:00Z")
    assert custom.since_us < custom.until_us
    for kwargs, message in [({"range_": "1y"}, "Invalid range"), ({"status": "green"}, "^Invalid status 'green'$"),
                            ({"status": "Green"}, "^Invalid status 'Green'$"),
                            ({"sources": ["ftp"]}, "Invalid source 'ftp'"), ({"since": "yesterday"}, "since must be"),
                            ({"since": "2026-11-02", "until": "2026-11-01"}, "since must be before until")]:  # fmt: skip
        with pytest.raises(InvalidQuery, match=message):
            params.run_filter(NOW, **kwargs)


def test_an_impossible_agent_name_is_not_found_rather_than_an_error():
    with pytest.raises(NotFound, match="^Agent not found: 'a b'$"):
        params.agent_name("a b")
    assert params.agent_name("customer-support-agent") == "customer-support-agent"


def test_export_request():
    assert params.export_request(["r1,r2", "r1"], "CSV") == (("r1", "r2"), "csv")
    with pytest.raises(InvalidQuery, match="Invalid format 'xml'"):
        params.export_request(["r1"], "xml")
    with pytest.raises(InvalidQuery, match="ids is required"):
        params.export_request([], "csv")


# -- cursors --------------------------------------------------------------------------------
def test_cursor_round_trip_and_opacity():
    c = cursor.encode("runs", (1795384632485899, "agent-07", "tr_381c"))
    assert "=" not in c and cursor.decode("runs", c) == (1795384632485899, "agent-07", "tr_381c")
    assert cursor.decode("results", cursor.encode("results", (1, "case-9"))) == (1, "case-9")


def _raw(body) -> str:
    """A cursor with a valid checksum around ``body``: reaches the shape checks."""
    b64 = base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")
    return f"{b64}.{cursor._check(b64)}"


def test_an_edited_cursor_is_refused_not_followed():
    good = cursor.encode("results", (0, "case-0010"))
    for i, ch in enumerate(good):
        edited = good[:i] + ("B" if ch == "A" else "A") + good[i + 1:]
        with pytest.raises(InvalidQuery, match="^Invalid cursor"):
            cursor.decode("results", edited)
    bare = good.partition(".")[0]  # a well-formed body without its checksum
    with pytest.raises(InvalidQuery, match="^Invalid cursor"):
        cursor.decode("results", bare)


@pytest.mark.parametrize("bad", [
    "zzz", "!!!", "", "a" * 5000, _raw([1, 2]), _raw({"k": "results", "v": [0, "x"]}),
    _raw({"k": "runs", "v": [1, "a"]}), _raw({"k": "runs", "v": ["1", "a", "b"]}), _raw({"k": "runs", "v": [True, "a", "b"]}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(), "\u00fcn\u00ef.\u00fc", _raw({"k": "runs", "v": [1, "a", "b"]})[:-1] + "\u00e9",
])  # fmt: skip
def test_bad_cursors_are_a_clear_400(bad):
    with pytest.raises(InvalidQuery, match="^Invalid cursor: pass the next_cursor"):
        cursor.decode("runs", bad)


# -- status and pending ------------------------------------------------------------------------
@pytest.mark.parametrize(("closed", "scored", "errors", "pending", "expected"), [
    (False, 0, 0, 0, "pending"),     # an empty streaming run
    (False, 0, 0, 5, "pending"),     # accepted, nothing evaluated yet
    (True, 0, 0, 5, "pending"),
    (False, 3, 0, 0, "running"),     # still syncing
    (True, 3, 0, 2, "running"),      # completed, still being scored
    (True, 10, 1, 0, "completed"),
    (True, 4, 4, 0, "failed"),       # every case hit a runtime error
    (True, 0, 0, 0, "completed"),    # completed empty run
])  # fmt: skip
def test_run_status(closed, scored, errors, pending, expected):
    assert present.run_status(closed=closed, scored=scored, errors=errors, pending=pending) == expected


def test_a_sync_run_is_done_once_scored_a_streaming_one_once_completed():
    scored = {"total": 5, "passed": 5, "date_us": 1, "completed_us": None}
    assert present.run_row("a", "r", {**scored, "mode": "sync"}, present.LiveRun("running", 5), "x")["status"] == "completed"
    assert present.run_row("a", "r", {**scored, "mode": "sync"}, present.LiveRun("running", 7), "x")["status"] == "running"
    assert present.run_row("a", "r", {**scored, "mode": "streaming"}, present.LiveRun("running", 5), "x")["status"] == "running"
    assert present.run_row("a", "r", scored, present.LiveRun("running", 5, mode="sync"), "x")["status"] == "completed"


def test_pending_is_never_negative():
    assert present.pending_count(10, 4) == 6
    assert present.pending_count(0, 4) == 0  # the run hash expired: no made-up pending cases
    assert present.pending_count(3, 5) == 0


def test_run_row_and_summary_combine_tables_and_live_state():
    run = {"agent": "a", "run": "r", "date_us": 1_700_000_000_000_000, "total": 8, "passed": 6, "failed": 1,
           "errors": 1, "bss": 72.46, "aqs": float("nan"), "source": "ci", "completed_us": None, "safety": 1}  # fmt: skip
    row = present.run_row("a", "r", run, present.LiveRun("running", 10, "ci"), "http://x")
    assert row["tests"] == 10 and row["pending"] == 2 and row["status"] == "running" and row["bss"] == 72.5
    assert row["aqs"] is None and row["date"] == "2023-11-14T22:13:20.000Z" and row["url"] == "http://x/agent/a/test-runs/r"
    s = present.summary("a", "r", run, present.LiveRun("completed", 8, "ci"), "http://x")
    assert s["status"] == "completed" and s["pass_rate"] == 75.0 and s["pending"] == 0
    assert s["failure_breakdown"] == {"tool_usage": 0, "knowledge": 0, "safety": 1, "runtime": 0, "other": 0}
    only_live = present.summary("a", "r", None, present.LiveRun("running", 3, "mcp"), "http://x")
    assert only_live["status"] == "pending" and only_live["total"] == 3 and only_live["pass_rate"] is None


# -- compare ----------------------------------------------------------------------------------------
def _case(sid, status, rid=None, category=None):
    return {"scenario_id": sid, "result_id": rid or f"{sid}-1", "description": sid.title(), "status": status,
            "failure_category": category, "severity": "high" if status == "failed" else None, "reason": None}  # fmt: skip


def test_compare_lists_every_regression_fix_and_missing_case():
    base = [_case("a", "passed"), _case("b", "failed", category="safety"), _case("c", "passed"), _case("d", "passed")]
    head = [_case("a", "failed", category="safety"), _case("b", "passed"), _case("c", "passed"), _case("e", "failed")]
    out = compare(base, head)
    assert out["shared"] == 3
    assert [r["scenario_id"] for r in out["regressions"]] == ["a"] and out["regressions"][0]["head_failure_category"] == "safety"
    assert [r["scenario_id"] for r in out["fixes"]] == ["b"]
    assert [r["scenario_id"] for r in out["new_in_head"]] == ["e"]
    missing = out["missing_from_head"]
    assert [m["scenario_id"] for m in missing] == ["d"] and missing[0]["status"] == "passed"
    assert out["shared_passed"] == {"base": 2, "head": 2}  # the missing 'd' is not counted as passing in head
    assert out["category_changes"]["safety"] == {"base": 1, "head": 1, "delta": 0}


def test_compare_errors_count_as_failures_and_repeats_pair_by_occurrence():
    base = [_case("s", "passed", "r1"), _case("s", "passed", "r2")]
    head = [_case("s", "passed", "r1"), _case("s", "error", "r2")]
    out = compare(base, head)
    assert out["shared"] == 2 and len(out["regressions"]) == 1 and out["regressions"][0]["head_result_id"] == "r2"
    assert out["category_changes"]["runtime"] == {"base": 0, "head": 1, "delta": 1}


def test_score_change_text():
    assert score_change(72.0, 81.0) == (9.0, "72 to 81, +9")
    assert score_change(81.0, 72.5) == (-8.5, "81 to 72.5, -8.5")
    assert score_change(None, 70.0) == (None, None)


# -- case detail --------------------------------------------------------------------------------------
def test_case_detail_orders_the_trace_and_sums_timing():
    row = {"result_id": "c1", "scenario_id": "s", "status": "failed", "failure_category": "safety",
           "severity": "critical", "reason": "escalate", "tool_sequence": ["delete_account"],
           "expected_tools": ["escalate_to_human"], "missing_steps": ["escalate_to_human"], "extra_steps": ["delete_account"],
           "tools_called_json": orjson.dumps([{"name": "delete_account", "arguments": {"u": 1}, "duration_ms": 84.0}]).decode(),
           "llm_calls_json": orjson.dumps([{"model": "m", "latency_ms": 900.0}, {"model": "m", "latency_ms": 30.0}]).decode(),
           "llm_costs": [0.1], "trace_json": orjson.dumps([{"at": "2026-01-01T00:00:02Z", "kind": "b"},
                                                           {"at": "2026-01-01T00:00:01Z", "kind": "a"}]).decode()}  # fmt: skip
    d = present.case_detail(row)
    assert [e["kind"] for e in d["trace"]] == ["a", "b"]
    assert d["timing"]["tools_ms"] == 84.0 and d["timing"]["llm_ms"] == 930.0
    assert d["llm_calls"][0]["cost_usd"] == 0.1 and d["llm_calls"][1]["cost_usd"] is None
    assert d["failure"]["severity"] == "critical" and d["sequence"]["missing"] == ["escalate_to_human"]
    assert d["tools_called"][0]["arguments"] == {"u": 1}
