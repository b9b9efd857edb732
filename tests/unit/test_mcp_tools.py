"""The MCP tools in process (the SDK's Client against the MCPServer), the REST API faked with
httpx.MockTransport: parameters, exact error texts, text + structured answers."""

from __future__ import annotations

import json

import httpx
import pytest
from mcp import Client

from services.client import InvariumClient
from services.mcp.http import bearer_key
from services.mcp.server import build_server
from tests.unit.test_mcp_text import GOLDEN, SEED_DETAIL

pytestmark = pytest.mark.unit

GOOD_KEY = "k" * 20
TOOLS = {"invarium_sync_results", "invarium_list_test_runs", "invarium_get_test_run", "invarium_get_agent",
         "invarium_list_agents", "invarium_compare_test_runs", "invarium_rescore"}  # fmt: skip


def fake_api(requests: list[httpx.Request]):
    def handler(req: httpx.Request) -> httpx.Response:
        requests.append(req)
        if req.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
            return httpx.Response(401, json={"detail": "Authentication failed: invalid API key"})
        path = req.url.path
        if path.startswith("/v1/agents/ghost"):
            return httpx.Response(404, json={"detail": "Agent not found: 'ghost'"})
        if path == "/v1/agents/customer-support-agent/test-runs/tr_8f4a2b1c":
            return httpx.Response(200, json=SEED_DETAIL)
        if path.startswith("/v1/agents/customer-support-agent/test-runs/"):
            return httpx.Response(404, json={"detail": f"Test run not found: '{path.rsplit('/', 1)[1]}'"})
        if path == "/v1/test-runs/sync":
            body = json.loads(req.content)
            return httpx.Response(201, json={"test_run_id": "tr_1", "agent_name": body["agent_name"], "status": "running",
                                             "accepted": len(body["results"]), "duplicates": 0, "url": "http://t/agent/a/test-runs/tr_1"})  # fmt: skip
        if path == "/v1/test-runs":
            return httpx.Response(200, json={"runs": [], "page": 1, "limit": 20, "total": 0, "next_cursor": None})
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.MockTransport(handler)


@pytest.fixture
def server_and_requests():
    requests: list[httpx.Request] = []
    transport = fake_api(requests)
    key = {"value": GOOD_KEY}
    server = build_server(lambda ctx: InvariumClient("http://t", key["value"], transport=transport))
    return server, requests, key


async def call(server, name, args):
    async with Client(server, raise_exceptions=True) as client:
        return await client.call_tool(name, args)


async def test_tools_have_the_seed_names_and_parameters(server_and_requests):
    server, _, _ = server_and_requests
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    schema = tools["invarium_get_test_run"].input_schema
    assert set(schema["properties"]) == {"agent_name", "test_run_id", "status", "page", "limit"}
    assert schema["required"] == ["agent_name", "test_run_id"]
    assert schema["properties"]["page"]["default"] == 1 and schema["properties"]["limit"]["default"] == 20


async def test_get_test_run_answers_in_the_seed_format_with_structured_content(server_and_requests):
    server, requests, _ = server_and_requests
    result = await call(server, "invarium_get_test_run",
                        {"agent_name": "customer-support-agent", "test_run_id": "tr_8f4a2b1c", "status": "failed", "limit": 5})  # fmt: skip
    assert not result.is_error
    assert result.content[0].text == GOLDEN.read_text()
    assert result.structured_content["summary"]["passed"] == 8
    assert dict(requests[-1].url.params) == {"status": "failed", "page": "1", "limit": "5"}


@pytest.mark.parametrize(("args", "message"), [
    ({"agent_name": "customer-support-agent", "test_run_id": ""}, "test_run_id is required and cannot be empty"),
    ({"agent_name": "customer-support-agent"}, "test_run_id is required and cannot be empty"),
    ({"agent_name": "customer-support-agent", "test_run_id": "tr_1", "status": "done"}, "Invalid status 'done'"),
    ({"agent_name": "customer-support-agent", "test_run_id": "tr_1", "page": 0}, "page must be 1 or greater"),
    ({"agent_name": "customer-support-agent", "test_run_id": "tr_1", "limit": 101}, "limit must be between 1 and 100"),
    ({"agent_name": "ghost", "test_run_id": "tr_1"}, "Agent not found: 'ghost'"),
    ({"agent_name": "customer-support-agent", "test_run_id": "tr_nope"}, "Failed to get test run: Test run not found: 'tr_nope'"),
])  # fmt: skip
async def test_get_test_run_errors_have_the_seed_texts(server_and_requests, args, message):
    server, requests, _ = server_and_requests
    result = await call(server, "invarium_get_test_run", args)
    assert result.is_error and result.content[0].text == message
    local = message.split(" ")[0] in ("test_run_id", "Invalid", "page", "limit")
    assert not requests if local else requests  # parameter errors never reach the server


async def test_bad_key_is_the_servers_text_for_every_tool(server_and_requests):
    server, _, key = server_and_requests
    key["value"] = "wrong-key-0123456789"
    for name, args in [("invarium_get_test_run", {"agent_name": "a", "test_run_id": "tr_1"}),
                       ("invarium_list_agents", {}), ("invarium_list_test_runs", {})]:  # fmt: skip
        result = await call(server, name, args)
        assert result.is_error and result.content[0].text == "Authentication failed: invalid API key", name


async def test_sync_results_sends_source_mcp(server_and_requests):
    server, requests, _ = server_and_requests
    result = await call(server, "invarium_sync_results", {"agent_name": "a", "results": [
        {"scenario_id": "s1", "user_message": "hi", "tools_called": [{"name": "t"}]}]})  # fmt: skip
    body = json.loads(requests[-1].content)
    assert body["source"] == "mcp" and body["results"][0]["tools_called"][0]["name"] == "t"
    assert "Synced 1 results to test run tr_1" in result.content[0].text
    assert result.structured_content["test_run_id"] == "tr_1"


async def test_list_test_runs_checks_filters_locally(server_and_requests):
    server, requests, _ = server_and_requests
    assert (await call(server, "invarium_list_test_runs", {"status": "weird"})).content[0].text == "Invalid status 'weird'"
    assert (await call(server, "invarium_list_test_runs", {"limit": 0})).content[0].text == "limit must be between 1 and 100"
    assert not requests
    ok = await call(server, "invarium_list_test_runs", {"agent_name": "a1", "status": "has_failures", "source": "ci"})
    assert not ok.is_error and "No test runs match" in ok.content[0].text
    assert dict(requests[-1].url.params) == {"agent": "a1", "status": "has_failures", "source": "ci", "page": "1", "limit": "20"}


def test_bearer_key_from_headers():
    assert bearer_key({"authorization": "Bearer abc"}) == "abc"
    assert bearer_key({"Authorization": "bearer  abc "}) == "abc"
    assert bearer_key({"x-api-key": "k2"}) == "k2"
    assert bearer_key({"authorization": "Basic xyz"}) is None and bearer_key(None) is None


def test_transport_security_admits_the_public_host_behind_a_proxy():
    from services.common.settings import CommonSettings
    from services.mcp.http import transport_security

    loopback = transport_security(CommonSettings(host="127.0.0.1", base_url="https://invarium.example.com"))
    assert "invarium.example.com" in loopback.allowed_hosts and "localhost:*" in loopback.allowed_hosts
    assert "https://invarium.example.com" in loopback.allowed_origins
    assert transport_security(CommonSettings(host="0.0.0.0")) is None


async def test_rest_calls_go_in_process_unless_a_rest_url_is_set():
    from fastapi import FastAPI

    from services.common.settings import CommonSettings
    from services.mcp.http import rest_clients

    class Ctx:
        headers = {"authorization": f"Bearer {GOOD_KEY}"}

    app = FastAPI()

    @app.get("/v1/agents")
    async def agents():
        return {"agents": [{"agent_name": "in-process"}]}

    local = rest_clients(app, CommonSettings(port=8123))(Ctx())
    async with local:
        assert (await local.list_agents())["agents"][0]["agent_name"] == "in-process"
    assert local.base_url == "http://localhost:8123"
    remote = rest_clients(app, CommonSettings(mcp_rest_url="http://gateway:8000/"))(Ctx())
    assert remote.base_url == "http://gateway:8000"
    await remote.aclose()
