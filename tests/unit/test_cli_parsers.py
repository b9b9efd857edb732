"""Result-file parsers of ``invarium sync``: JSON, JSONL and JUnit XML from a real pytest run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import parsers

pytestmark = pytest.mark.unit

TINY_SUITE = '''
import pytest

def test_refund_policy(record_property):
    record_property("user_message", "What is your refund policy for digital products?")
    record_property("tools_called", "search_knowledge_base, get_policy")

def test_account_deletion():
    assert "delete_account" == "escalate_to_human", "Agent should have escalated"

@pytest.fixture
def broken():
    raise RuntimeError("tool timed out")

def test_with_broken_fixture(broken):
    pass

@pytest.mark.skip(reason="not ready")
def test_skipped():
    pass

@pytest.mark.parametrize("city", ["Toronto", "Paris"])
def test_shipping(city):
    assert city

class TestOrders:
    def test_status(self):
        pass
'''


def junit_from_real_pytest(tmp_path: Path) -> Path:
    """Run pytest itself on a tiny generated suite and keep its --junitxml report."""
    (tmp_path / "test_agent_suite.py").write_text(TINY_SUITE)
    report = tmp_path / "report.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                           "test_agent_suite.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]  # one failure, one error
    return report


def test_junit_from_a_real_pytest_run(tmp_path: Path):
    parsed = parsers.load(junit_from_real_pytest(tmp_path))
    by_name = {r["description"]: r for r in parsed.results}
    assert parsed.skipped == 1 and "test_skipped" not in by_name
    assert set(by_name) == {"test_refund_policy", "test_account_deletion", "test_with_broken_fixture",
                            "test_shipping[Toronto]", "test_shipping[Paris]", "test_status"}  # fmt: skip
    refund = by_name["test_refund_policy"]
    assert refund["status"] == "passed" and refund["scenario_id"] == "test_agent_suite::test_refund_policy"
    assert refund["user_message"] == "What is your refund policy for digital products?"
    assert refund["tools_called"] == [{"name": "search_knowledge_base"}, {"name": "get_policy"}]
    assert refund["duration_ms"] >= 0 and refund["result_id"] == refund["scenario_id"]
    failed = by_name["test_account_deletion"]
    assert failed["status"] == "failed" and "Agent should have escalated" in failed["error"]
    assert failed["user_message"] == "test_account_deletion"  # no property: the test's name
    errored = by_name["test_with_broken_fixture"]
    assert errored["status"] == "error" and "tool timed out" in errored["error"]
    assert by_name["test_status"]["scenario_id"] == "test_agent_suite.TestOrders::test_status"
    assert len({r["result_id"] for r in parsed.results}) == 6


def test_junit_from_other_xunit_producers():
    xml = b"""<?xml version="1.0"?>
    <testsuite name="jest" tests="3">
      <testcase classname="checkout" name="applies coupon" time="0.25"/>
      <testcase classname="checkout" name="applies coupon" time="x"/>
      <testcase name="rejects card"><failure>expected 402
      got 200</failure></testcase>
      <testcase name="flaky"><error type="TimeoutError"/></testcase>
    </testsuite>"""
    parsed = parsers.load(Path("results.xml"), xml)
    first, again, card, flaky = parsed.results
    assert first["duration_ms"] == 250.0 and "duration_ms" not in again
    assert first["result_id"] == "checkout::applies coupon" and again["result_id"] == "checkout::applies coupon#2"
    assert card["status"] == "failed" and card["error"] == "expected 402" and card["scenario_id"] == "rejects card"
    assert flaky["status"] == "error" and flaky["error"] == "TimeoutError"


def test_json_list_object_and_jsonl(tmp_path: Path):
    rows = [{"scenario_id": "s1", "user_message": "hi"}, {"scenario_id": "s2", "user_message": "yo", "status": "failed"}]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "b.json").write_text(json.dumps({"agent_name": "x", "results": rows}))
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "d.txt").write_text("\n".join(json.dumps(r) for r in rows))  # sniffed: JSONL
    for name in ("a.json", "b.json", "c.jsonl", "d.txt"):
        assert parsers.load(tmp_path / name).results == rows, name


@pytest.mark.parametrize(("name", "data", "message"), [
    ("bad.jsonl", b'{"scenario_id": "s", "user_message": "m"}\n{"user_message": 1}\n', "bad.jsonl line 2: scenario_id"),
    ("bad.jsonl", b'{"scenario_id": "s", "user_message": "m"}\nnot json\n', "bad.jsonl line 2: not valid JSON"),
    ("bad.json", b'{"rows": []}', "expected a list of results"),
    ("bad.json", b'[{"scenario_id": "s", "user_message": "m", "status": "meh"}]', "bad.json result 1: status"),
    ("bad.xml", b"<testsuite><testcase", "bad.xml: not valid XML"),
])  # fmt: skip
def test_bad_files_name_the_place(name, data, message):
    with pytest.raises(parsers.ParseError) as exc:
        parsers.load(Path(name), data)
    assert message in str(exc.value)
