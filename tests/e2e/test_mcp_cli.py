"""MCP server and CLI end to end: the real API process (ingest + query + MCP at /mcp) and a scorer
process on a real redis-server, driven by the installed ``invarium`` console script, typer's
CliRunner and the MCP SDK's own client sessions (streamable HTTP with a Bearer key, and stdio
spawning ``invarium mcp``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from typer.testing import CliRunner

from services.cli.main import app as cli_app
from tests.conftest import ADMIN_KEY, API_KEYS, MEMBER_KEY, VIEWER_KEY, start_redis
from tests.e2e.conftest import Service, start_service
from tests.e2e.test_scorer_process import start_scorer
from tests.unit.test_cli_parsers import junit_from_real_pytest

pytestmark = pytest.mark.e2e

INVARIUM = str(Path(sys.executable).with_name("invarium"))  # installed by the project's set-up
BAD_KEY = "wrong-key-0123456789"
AUTH_FAILED = "Authentication failed: invalid API key"


class Stack:
    def __init__(self, api: Service, data: Path):
        self.api, self.url, self.data = api, api.url, data

    def env(self, key: str | None = MEMBER_KEY, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "INVARIUM_API_KEY")}
        env |= {"INVARIUM_BASE_URL": self.url, "COLUMNS": "200"} | extra
        if key:
            env["INVARIUM_API_KEY"] = key
        return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("mcp-cli")
    redis = start_redis(work / "redis")
    env = {"REDIS_URL": redis.url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(work / "data")}
    api = start_service("services.api", env, work / "api.log")
    scorer = start_scorer(redis.url, work / "data", work / "scorer.log")
    try:
        yield Stack(api, work / "data")
    finally:
        scorer.terminate()
        scorer.wait(15)
        api.stop()
        redis.stop()


def cli(stack: Stack, *args: str, key: str | None = MEMBER_KEY, **env: str):
    # CliRunner overlays ``env`` on os.environ: CI=true of a CI machine must be removed (None), or
    # syncs there would say source "ci" where the tests expect "cli"
    overlay: dict[str, str | None] = {"CI": None} | stack.env(key, **env)
    return CliRunner().invoke(cli_app, list(args), env=overlay, catch_exceptions=False)


def jsonl(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@asynccontextmanager
async def http_session(stack: Stack, key: str | None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(f"{stack.url}/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def text_of(result) -> str:
    return result.content[0].text


# -- works against the ingest routes alone --------------------------------------------------


def test_console_script_syncs_a_real_pytest_junit_report_as_ci(stack: Stack, tmp_path: Path):
    report = junit_from_real_pytest(tmp_path)
    run = lambda *a, key=MEMBER_KEY, **e: subprocess.run([INVARIUM, *a], env=stack.env(key, **e), capture_output=True,
                                                         text=True, timeout=60)  # noqa: E731  # fmt: skip
    done = run("sync", str(report), "--agent", "junit-agent", "--json", CI="true")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["accepted"], summary["skipped"], summary["source"]) == (6, 1, "ci")
    assert summary["status"] == "completed" and summary["requests"] == 1
    assert summary["url"].endswith(f"/agent/junit-agent/test-runs/{summary['test_run_id']}")
    assert "1 skipped test case(s) not synced" in done.stderr
    again = run("sync", str(report), "--agent", "junit-agent", "--run", summary["test_run_id"], "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["duplicates"] == 6  # re-sync of a file: a no-op
    extra = jsonl(tmp_path, "extra.jsonl", [{"scenario_id": "new", "user_message": "m"}])
    closed = run("sync", str(extra), "--agent", "junit-agent", "--run", summary["test_run_id"])
    assert closed.returncode != 0 and "is completed; it takes no new results" in closed.stderr
    unauth = run("sync", str(report), "--agent", "junit-agent", key=BAD_KEY)
    assert unauth.returncode != 0 and AUTH_FAILED in unauth.stderr and BAD_KEY not in unauth.stderr + unauth.stdout


def test_cli_sync_splits_into_requests_of_1000_and_appends(stack: Stack, tmp_path: Path):
    rows = [{"result_id": f"r{i}", "scenario_id": f"s{i % 50}", "user_message": f"question {i}", "status": "passed"}
            for i in range(2300)]  # fmt: skip
    first = cli(stack, "sync", str(jsonl(tmp_path, "a.jsonl", rows[:2100])), "--agent", "bulk-agent", "--no-complete",
                "--json")  # fmt: skip
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert (summary["accepted"], summary["requests"], summary["status"]) == (2100, 3, "running")
    second = cli(stack, "sync", str(jsonl(tmp_path, "b.jsonl", rows[2000:])), "--agent", "bulk-agent",
                 "--run", summary["test_run_id"], "--complete", "--json")  # fmt: skip
    appended = json.loads(second.stdout)
    assert (appended["accepted"], appended["duplicates"], appended["status"]) == (200, 100, "completed")
    assert appended["test_run_id"] == summary["test_run_id"]
    bad = cli(stack, "sync", str(jsonl(tmp_path, "c.jsonl", [{"user_message": "x"}])), "--agent", "bulk-agent")
    assert bad.exit_code != 0 and "c.jsonl line 1: scenario_id" in bad.stderr


async def test_mcp_over_streamable_http_with_the_callers_bearer_key(stack: Stack):
    async with http_session(stack, MEMBER_KEY) as session:
        names = {t.name for t in (await session.list_tools()).tools}
        assert {"invarium_sync_results", "invarium_get_test_run", "invarium_list_test_runs", "invarium_get_agent",
                "invarium_list_agents", "invarium_compare_test_runs", "invarium_rescore"} <= names  # fmt: skip
        synced = await session.call_tool("invarium_sync_results", {"agent_name": "mcp-agent", "results": [
            {"scenario_id": "refund", "user_message": "Refund?", "status": "passed"}]})  # fmt: skip
        assert not synced.is_error, text_of(synced)
        assert synced.structured_content["accepted"] == 1 and "View on dashboard: " in text_of(synced)
        for args, message in [({"agent_name": "mcp-agent", "test_run_id": ""}, "test_run_id is required and cannot be empty"),
                              ({"agent_name": "mcp-agent", "test_run_id": "t", "status": "x"}, "Invalid status 'x'"),
                              ({"agent_name": "mcp-agent", "test_run_id": "t", "page": 0}, "page must be 1 or greater"),
                              ({"agent_name": "mcp-agent", "test_run_id": "t", "limit": 500}, "limit must be between 1 and 100")]:  # fmt: skip
            result = await session.call_tool("invarium_get_test_run", args)
            assert result.is_error and text_of(result) == message
        rescore = await session.call_tool("invarium_rescore", {"agent_name": "mcp-agent"})
        assert rescore.is_error and text_of(rescore).startswith("Forbidden: this action needs the admin role")
    for key in (BAD_KEY, None):
        async with http_session(stack, key) as session:
            result = await session.call_tool("invarium_sync_results", {"agent_name": "mcp-agent", "results": [
                {"scenario_id": "s", "user_message": "m"}]})  # fmt: skip
            assert result.is_error and text_of(result) == AUTH_FAILED


async def test_mcp_over_stdio_spawning_invarium_mcp(stack: Stack):
    server = StdioServerParameters(command=INVARIUM, args=["mcp"], env=stack.env(MEMBER_KEY))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(server, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                assert len((await session.list_tools()).tools) == 7
                synced = await session.call_tool("invarium_sync_results", {"agent_name": "stdio-agent", "results": [
                    {"scenario_id": "s1", "user_message": "hi", "status": "passed"}], "complete": True})  # fmt: skip
                assert not synced.is_error and synced.structured_content["status"] == "completed"
                empty = await session.call_tool("invarium_get_test_run", {"agent_name": "stdio-agent", "test_run_id": " "})
                assert empty.is_error and text_of(empty) == "test_run_id is required and cannot be empty"


# -- read tools and commands: need the query routes ----------------------------------------


def wait_visible(stack: Stack, agent: str, run: str, total: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = cli(stack, "show", run, "--agent", agent, "--json", key=VIEWER_KEY)
        if shown.exit_code == 0:
            s = json.loads(shown.stdout)["summary"]
            if s["total"] == total and s["pending"] == 0 and s["status"] == "completed":
                return s
        assert time.monotonic() < deadline, shown.output
        time.sleep(0.3)


@pytest.fixture(scope="module")
def two_runs(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two completed, scored runs of ``gate-agent``: the head run regresses ``refund``."""
    tmp = tmp_path_factory.mktemp("runs")
    cases = [("refund", "Refund policy for digital products", "What is your refund policy for digital products?"),
             ("shipping", "Shipping cost inquiry", "How much does express shipping cost to Canada?"),
             ("orders", "Order status lookup", "Where is my order 88123?")]  # fmt: skip
    ids = []
    for name, failing in (("base", set()), ("head", {"refund"})):
        rows = [{"result_id": sid, "scenario_id": sid, "description": d, "user_message": m,
                 "tools_called": [{"name": "search_knowledge_base"}],
                 "status": "failed" if sid in failing else "passed",
                 **({"error": "Quoted the wrong refund window."} if sid in failing else {})} for sid, d, m in cases]  # fmt: skip
        done = cli(stack, "sync", str(jsonl(tmp, f"{name}.jsonl", rows)), "--agent", "gate-agent", "--json")
        assert done.exit_code == 0, done.output
        ids.append(json.loads(done.stdout)["test_run_id"])
    for run in ids:
        wait_visible(stack, "gate-agent", run, 3)
    return ids[0], ids[1]


async def test_mcp_read_tools_over_http(stack: Stack, two_runs):
    base, head = two_runs
    async with http_session(stack, VIEWER_KEY) as session:
        got = await session.call_tool("invarium_get_test_run", {"agent_name": "gate-agent", "test_run_id": head})
        lines = text_of(got).splitlines()
        assert lines[:4] == [f"Test Run: {head}", "Agent: gate-agent",
                             "Status: completed | Passed: 2/3 (67%) | Failed: 1/3", "Results (page 1/1):"]  # fmt: skip
        assert lines[-1].startswith("View on dashboard: http") and lines[-1].endswith(f"/agent/gate-agent/test-runs/{head}")
        failed = await session.call_tool("invarium_get_test_run", {"agent_name": "gate-agent", "test_run_id": head,
                                                                   "status": "failed"})  # fmt: skip
        assert text_of(failed).splitlines()[4:8] == [
            "[FAILED] Refund policy for digital products", 'Input: "What is your refund policy for digital products?"',
            "Tools called: search_knowledge_base", "Error: Quoted the wrong refund window."]  # fmt: skip
        for args, message in [({"agent_name": "ghost-agent", "test_run_id": head}, "Agent not found: 'ghost-agent'"),
                              ({"agent_name": "gate-agent", "test_run_id": "tr_nope"},
                               "Failed to get test run: Test run not found: 'tr_nope'")]:  # fmt: skip
            result = await session.call_tool("invarium_get_test_run", args)
            assert result.is_error and text_of(result) == message
        compared = await session.call_tool("invarium_compare_test_runs", {"agent_name": "gate-agent",
                                                                          "base_test_run_id": base, "head_test_run_id": head})  # fmt: skip
        assert "Regressions: 1" in text_of(compared) and "(refund)" in text_of(compared)
        runs = await session.call_tool("invarium_list_test_runs", {"agent_name": "gate-agent"})
        assert head in text_of(runs) and base in text_of(runs)
        agent = await session.call_tool("invarium_get_agent", {"agent_name": "gate-agent"})
        assert not agent.is_error and text_of(agent).startswith("Agent: gate-agent")
        agents = await session.call_tool("invarium_list_agents", {})
        assert "gate-agent" in text_of(agents)
    async with http_session(stack, BAD_KEY) as session:
        result = await session.call_tool("invarium_get_test_run", {"agent_name": "gate-agent", "test_run_id": head})
        assert result.is_error and text_of(result) == AUTH_FAILED


def test_cli_read_commands_and_the_ci_quality_gate(stack: Stack, two_runs, tmp_path: Path):
    base, head = two_runs
    listed = cli(stack, "runs", "--agent", "gate-agent", "--source", "cli", "--json", key=VIEWER_KEY)
    assert listed.exit_code == 0, listed.output
    assert [r["test_run_id"] for r in json.loads(listed.stdout)["runs"]] == [head, base]  # newest first
    table = cli(stack, "runs", "--agent", "gate-agent", key=VIEWER_KEY)
    assert table.exit_code == 0 and head in table.stdout and "Passed" in table.stdout
    shown = cli(stack, "show", head, "--agent", "gate-agent", "--status", "failed", key=VIEWER_KEY)
    assert shown.exit_code == 0 and "refund" in shown.stdout and "Quoted the wrong refund window" in shown.stdout
    gate = cli(stack, "compare", base, head, "--agent", "gate-agent", "--fail-on-regression", key=VIEWER_KEY)
    assert gate.exit_code == 1 and "quality gate failed: 1 regression(s)" in gate.stderr
    fixed = cli(stack, "compare", head, base, "--agent", "gate-agent", "--fail-on-regression", "--json", key=VIEWER_KEY)
    assert fixed.exit_code == 0 and len(json.loads(fixed.stdout)["fixes"]) == 1
    out = tmp_path / "export.csv"
    exported = cli(stack, "export", base, head, "--format", "csv", "-o", str(out), key=VIEWER_KEY)
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text().strip().splitlines()) == 1 + 6  # header + 3 results of each run
    agents = cli(stack, "agents", "--json", key=VIEWER_KEY)
    assert "gate-agent" in [a["agent_name"] for a in json.loads(agents.stdout)["agents"]]
    missing = cli(stack, "show", "tr_nope", "--agent", "gate-agent", key=VIEWER_KEY)
    assert missing.exit_code != 0 and "Test run not found: 'tr_nope'" in missing.stderr


def test_cli_delete_needs_admin_and_removes_the_run_at_once(stack: Stack, tmp_path: Path):
    done = cli(stack, "sync", str(jsonl(tmp_path, "d.jsonl", [{"scenario_id": "s", "user_message": "m", "status": "passed"}])),
               "--agent", "delete-agent", "--json")  # fmt: skip
    run = json.loads(done.stdout)["test_run_id"]
    wait_visible(stack, "delete-agent", run, 1)
    refused = cli(stack, "delete", run, "--agent", "delete-agent", "--yes", key=MEMBER_KEY)
    assert refused.exit_code != 0 and "admin" in refused.stderr
    deleted = cli(stack, "delete", run, "--agent", "delete-agent", "--yes", key=ADMIN_KEY)
    assert deleted.exit_code == 0, deleted.output
    gone = cli(stack, "show", run, "--agent", "delete-agent", key=VIEWER_KEY)
    assert gone.exit_code != 0 and f"Test run not found: '{run}'" in gone.stderr
