"""InvariumClient (against httpx.MockTransport) and the local parameter checks."""

from __future__ import annotations

import json

import httpx
import pytest

from services.cli.write_cmds import detect_source
from services.client import InvariumClient, InvariumError
from services.mcp import params

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("args", "message"), [
    (("a", "", None, 1, 20), "test_run_id is required and cannot be empty"),
    (("a", None, None, 1, 20), "test_run_id is required and cannot be empty"),
    (("a", "tr_1", "bogus", 1, 20), "Invalid status 'bogus'"),
    (("a", "tr_1", "passed", 0, 20), "page must be 1 or greater"),
    (("a", "tr_1", None, 1, 0), "limit must be between 1 and 100"),
    (("a", "tr_1", None, 1, 101), "limit must be between 1 and 100"),
])  # fmt: skip
def test_get_test_run_params_have_the_seed_texts(args, message):
    with pytest.raises(params.ParamError) as exc:
        params.get_test_run(*args)
    assert str(exc.value) == message


def test_valid_params_pass_and_empty_status_means_all():
    assert params.get_test_run(" a ", "tr_1", "", 1, 100) == ("a", "tr_1", None)
    assert params.get_test_run("a", "tr_1", "pending", 3, 1) == ("a", "tr_1", "pending")


def test_source_detection():
    assert detect_source({"CI": "true"}) == "ci" and detect_source({"CI": "1"}) == "ci"
    assert detect_source({}) == "cli" and detect_source({"CI": "false"}) == "cli"


async def test_server_errors_carry_status_and_detail():
    transport = httpx.MockTransport(lambda r: httpx.Response(404, json={"detail": "Agent not found: 'x'"}))
    async with InvariumClient("http://t", "k" * 20, transport=transport) as c:
        with pytest.raises(InvariumError) as exc:
            await c.get_agent("x")
    assert (exc.value.status, exc.value.detail) == (404, "Agent not found: 'x'")


async def test_retries_reuse_the_idempotency_key_and_split_into_1000s():
    seen: list[tuple[str, int, str | None]] = []
    failures = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        seen.append((req.headers["Idempotency-Key"], len(body["results"]), body.get("test_run_id")))
        assert req.headers["Authorization"] == "Bearer " + "k" * 20
        if failures["n"] < 2:  # the first request fails twice before it lands
            failures["n"] += 1
            return httpx.Response(503, json={"detail": "Event log unavailable"}, headers={"Retry-After": "0"})
        return httpx.Response(201 if body.get("test_run_id") is None else 200, json={
            "test_run_id": "tr_new", "agent_name": body["agent_name"], "accepted": len(body["results"]),
            "duplicates": 0, "status": "completed" if body["complete"] else "running", "url": "http://t/x"})  # fmt: skip

    sleeps: list[float] = []

    async def sleep(s: float) -> None:
        sleeps.append(s)

    results = [{"scenario_id": f"s{i}", "user_message": "hi"} for i in range(2500)]
    async with InvariumClient("http://t", "k" * 20, transport=httpx.MockTransport(handler), sleep=sleep) as c:
        summary = await c.sync_all("a1", results, source="cli")
    keys = [k for k, _, _ in seen]
    assert keys[0] == keys[1] == keys[2] and len(set(keys)) == 3  # one key per request, reused by its retries
    assert [n for _, n, _ in seen] == [1000, 1000, 1000, 1000, 500]
    assert [r for _, _, r in seen] == [None, None, None, "tr_new", "tr_new"]  # later requests append
    assert (summary.test_run_id, summary.accepted, summary.requests, summary.status) == ("tr_new", 2500, 3, "completed")
    assert sleeps == [0.0, 0.0]


async def test_client_errors_are_not_retried_and_network_errors_are():
    calls = {"n": 0}

    def refuse(req: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(422, json={"detail": "results: at least one result is required"})

    async def no_sleep(_: float) -> None:
        return None

    async with InvariumClient("http://t", None, transport=httpx.MockTransport(refuse), sleep=no_sleep) as c:
        with pytest.raises(InvariumError, match="at least one result"):
            await c.sync("a", [{"scenario_id": "s", "user_message": "m"}])
    assert calls["n"] == 1

    def down(req: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError("refused")

    async with InvariumClient("http://t", None, transport=httpx.MockTransport(down), sleep=no_sleep, retries=2) as c:
        with pytest.raises(InvariumError) as exc:
            await c.sync("a", [{"scenario_id": "s", "user_message": "m"}])
    assert exc.value.status is None and "cannot reach http://t" in exc.value.detail and calls["n"] == 4


async def test_wait_scored_polls_until_no_case_is_pending():
    answers = {"base": [0], "head": [None, 3, 1, 0]}  # head: not visible yet, then pending 3 -> 0

    def handler(req: httpx.Request) -> httpx.Response:
        run = req.url.path.rsplit("/", 1)[1]
        pending = answers[run].pop(0) if len(answers[run]) > 1 else answers[run][0]
        if pending is None:
            return httpx.Response(404, json={"detail": f"Test run not found: '{run}'"})
        return httpx.Response(200, json={"summary": {"pending": pending}, "results": []})

    async with InvariumClient("http://t", "k" * 20, transport=httpx.MockTransport(handler)) as c:
        assert await c.wait_scored("a", ["base", "head"], timeout_s=5, interval_s=0) == {"base": 0, "head": 0}
        answers["head"] = [2]  # never scored: what is left comes back at the deadline
        assert await c.wait_scored("a", ["base", "head"], timeout_s=0.05, interval_s=0.01) == {"base": 0, "head": 2}
        answers["head"] = [None]  # still unknown at the deadline: the server's 404 is the answer
        with pytest.raises(InvariumError):
            await c.wait_scored("a", ["head"], timeout_s=0.05, interval_s=0.01)


def test_the_quality_gate_does_not_judge_runs_still_being_scored(monkeypatch):
    from typer.testing import CliRunner

    from services.cli.main import app
    from services.client import InvariumClient as Client

    calls: list[str] = []

    async def wait_scored(self, agent, runs, *, timeout_s, interval_s=0.5):
        calls.append(f"wait {timeout_s:g}")
        return {"tr_a": 0, "tr_b": 7}

    async def compare(self, agent, base, head):
        calls.append("compare")
        return {"regressions": []}

    monkeypatch.setattr(Client, "wait_scored", wait_scored)
    monkeypatch.setattr(Client, "compare", compare)
    runner = CliRunner()
    gate = runner.invoke(app, ["compare", "tr_a", "tr_b", "--agent", "a", "--fail-on-regression", "--json"],
                         env={"INVARIUM_API_KEY": "k" * 20})  # fmt: skip
    assert gate.exit_code == 2 and "still being scored" in gate.stderr and "tr_b: 7" in gate.stderr
    assert calls == ["wait 300"]  # nothing was compared
    calls.clear()
    plain = runner.invoke(app, ["compare", "tr_a", "tr_b", "--agent", "a", "--json"], env={"INVARIUM_API_KEY": "k" * 20})
    assert plain.exit_code == 0 and calls == ["compare"]  # no gate, no wait
