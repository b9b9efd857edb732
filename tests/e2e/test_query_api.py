"""The query routes in the running API process: ingest over HTTP, the scorer process scores, every
read route answers over HTTP; delete; export formats; roles; the seed's error texts."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.conftest import ADMIN_KEY, API_KEYS, MEMBER_KEY, VIEWER_KEY
from tests.e2e.conftest import Service, start_service
from tests.e2e.test_scorer_process import start_scorer
from tests.integration.query_helpers import case

pytestmark = pytest.mark.e2e

AGENT = "customer-support-agent"


@pytest.fixture(scope="module")
def api(redis_server, tmp_path_factory) -> Iterator[tuple[Service, dict[str, str]]]:
    redis_server.client().flushall()
    data = tmp_path_factory.mktemp("query-e2e")
    env = {"REDIS_URL": redis_server.url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(data),
           "INVARIUM_BASE_URL": "http://dash.example", "INVARIUM_QUERY_REFRESH_S": "0.05"}  # fmt: skip
    svc = start_service("services.api", env, data / "api.log")
    scorer = start_scorer(redis_server.url, data, data / "scorer.log", INVARIUM_STATS_INTERVAL_S="0.05",
                          INVARIUM_MIN_COMMIT_INTERVAL_S="0.05")  # fmt: skip
    runs = {}
    try:
        with httpx.Client(base_url=svc.url, headers={"X-API-Key": MEMBER_KEY}, timeout=10) as c:
            for name, failing in (("base", (3,)), ("head", (1, 2))):
                body = {"agent_name": AGENT, "source": "ci", "complete": True,
                        "results": [case(i, ok=i not in failing) for i in range(8)]}  # fmt: skip
                resp = c.post("/v1/test-runs/sync", json=body)
                assert resp.status_code == 201, resp.text
                runs[name] = resp.json()["test_run_id"]
            deadline = time.monotonic() + 60
            while True:
                got = [c.get(f"/v1/agents/{AGENT}/test-runs/{r}") for r in runs.values()]
                if all(g.status_code == 200 and g.json()["summary"]["status"] == "completed" for g in got):
                    break
                assert time.monotonic() < deadline, [g.text for g in got]
                time.sleep(0.1)
        yield svc, runs
    finally:
        scorer.terminate()
        scorer.wait(15)
        svc.stop()


def client(svc: Service, key: str | None = VIEWER_KEY) -> httpx.Client:
    return httpx.Client(base_url=f"{svc.url}/v1", headers={"X-API-Key": key} if key else {}, timeout=10)


def test_every_read_route_for_a_viewer(api):
    svc, runs = api
    with client(svc) as c:
        listing = c.get("/test-runs", params={"agent": AGENT, "status": "has_failures", "source": "ci", "range": "24h"}).json()
        assert [r["test_run_id"] for r in listing["runs"]] == [runs["head"], runs["base"]] and listing["total"] == 2
        row = listing["runs"][0]
        assert (row["tests"], row["passed"], row["failed"], row["status"]) == (8, 6, 2, "completed")
        assert row["url"] == f"http://dash.example/agent/{AGENT}/test-runs/{runs['head']}"
        assert c.get("/test-runs", params={"limit": 1, "cursor": listing["next_cursor"]}).json()["total"] == 2
        agent = c.get(f"/agents/{AGENT}").json()
        assert agent["runs"] == 2 and agent["latest_run"]["test_run_id"] == runs["head"] and len(agent["trend"]) == 2
        assert [a["agent_name"] for a in c.get("/agents").json()["agents"]] == [AGENT]
        detail = c.get(f"/agents/{AGENT}/test-runs/{runs['head']}", params={"status": "failed"}).json()
        assert detail["summary"]["failed"] == 2 and [r["status"] for r in detail["results"]] == ["failed", "failed"]
        one = c.get(f"/agents/{AGENT}/test-runs/{runs['head']}/results/{detail['results'][0]['result_id']}").json()
        assert one["failure"]["severity"] == "critical" and one["trace"] and one["llm_calls"]
        cmp = c.get(f"/agents/{AGENT}/compare", params={"base": runs["base"], "head": runs["head"]}).json()
        assert len(cmp["regressions"]) == 2 and len(cmp["fixes"]) == 1 and cmp["shared"] == 8
        assert cmp["bss_change"] and " to " in cmp["bss_change"]


def test_export_formats_stream(api):
    svc, runs = api
    ids = f"{runs['base']},{runs['head']}"
    with client(svc) as c:
        as_json = c.get("/test-runs/export", params={"ids": ids, "format": "json"})
        assert as_json.headers["content-type"] == "application/json" and len(as_json.json()) == 16
        lines = c.get("/test-runs/export", params={"ids": ids, "format": "jsonl"}).text.splitlines()
        assert len(lines) == 16 and json.loads(lines[0])["test_run_id"] in runs.values()
        as_csv = c.get("/test-runs/export", params={"ids": runs["base"], "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv") and "attachment" in as_csv.headers["content-disposition"]
        assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == 8


def test_the_seed_error_texts(api):
    svc, runs = api
    run = f"/agents/{AGENT}/test-runs/{runs['base']}"
    with client(svc) as c:
        for path, params, status, detail in [
            (run, {"status": "maybe"}, 400, "Invalid status 'maybe'"),
            (run, {"page": 0}, 400, "page must be 1 or greater"),
            (run, {"limit": 101}, 400, "limit must be between 1 and 100"),
            (run, {"limit": 0}, 400, "limit must be between 1 and 100"),
            (f"/agents/{AGENT}/test-runs/%20", {}, 400, "test_run_id is required and cannot be empty"),
            (f"/agents/{AGENT}/test-runs/", {}, 400, "test_run_id is required and cannot be empty"),
            ("/agents/nobody/test-runs/tr_1", {}, 404, "Agent not found: 'nobody'"),
            ("/agents/nobody", {}, 404, "Agent not found: 'nobody'"),
            (f"/agents/{AGENT}/test-runs/tr_missing", {}, 404, "Test run not found: 'tr_missing'"),
            (f"{run}/results/nope", {}, 404, "Result not found: 'nope'"),
            ("/test-runs", {"status": "green"}, 400, "Invalid status 'green'"),
            ("/test-runs", {"page": -1}, 400, "page must be 1 or greater"),
            ("/test-runs", {"cursor": "garbage"}, 400, None),
            ("/test-runs/export", {"ids": "tr_missing"}, 404, "Test run not found: 'tr_missing'"),
            ("/test-runs/export", {"ids": runs["base"], "format": "xml"}, 400, None),
            (f"/agents/{AGENT}/compare", {"base": runs["base"]}, 400, None),
            ("/test-runs", {"page": "abc"}, 422, None),
        ]:  # fmt: skip
            resp = c.get(path, params=params)
            assert resp.status_code == status, (path, params, resp.text)
            assert detail is None or resp.json() == {"detail": detail}, resp.text
        assert client(svc, None).get(run).json() == {"detail": "Authentication failed: invalid API key"}
        assert client(svc, "wrong-key-0123456789").get("/test-runs").status_code == 401


def test_openapi_documents_the_query_routes(api):
    svc, _ = api
    spec = httpx.get(f"{svc.url}/openapi.json").json()
    for path in ("/v1/test-runs", "/v1/test-runs/export", "/v1/agents", "/v1/agents/{agent_name}",
                 "/v1/agents/{agent_name}/test-runs/{test_run_id}", "/v1/agents/{agent_name}/compare",
                 "/v1/agents/{agent_name}/test-runs/{test_run_id}/results/{result_id}"):  # fmt: skip
        ops = spec["paths"][path]
        assert all(op.get("description") for op in ops.values()), path
    assert "delete" in spec["paths"]["/v1/agents/{agent_name}/test-runs/{test_run_id}"]


def test_answers_match_their_documented_models(api):
    from schemas import query as answers

    svc, runs = api
    with client(svc) as c:
        answers.RunsPage.model_validate(c.get("/test-runs").json())
        answers.Agents.model_validate(c.get("/agents").json())
        detail = answers.RunDetail.model_validate(c.get(f"/agents/{AGENT}/test-runs/{runs['head']}").json())
        answers.CaseDetail.model_validate(c.get(f"/agents/{AGENT}/test-runs/{runs['head']}/results/{detail.results[0].result_id}").json())
        answers.Comparison.model_validate(c.get(f"/agents/{AGENT}/compare", params={"base": runs["base"], "head": runs["head"]}).json())
    spec = httpx.get(f"{svc.url}/openapi.json").json()
    assert {"RunsPage", "RunDetail", "CaseDetail", "Comparison", "Agent"} <= set(spec["components"]["schemas"])


def test_delete_needs_admin_and_hides_the_run_everywhere_at_once(api):
    svc, runs = api
    gone = runs["base"]
    path = f"/agents/{AGENT}/test-runs/{gone}"
    for key in (VIEWER_KEY, MEMBER_KEY):
        assert client(svc, key).delete(path).status_code == 403
    with client(svc, ADMIN_KEY) as c:
        resp = c.delete(path)
        assert resp.status_code == 200 and resp.json() == {"test_run_id": gone, "agent_name": AGENT, "deleted": True}
        assert c.get(path).json() == {"detail": f"Test run not found: '{gone}'"}
        assert [r["test_run_id"] for r in c.get("/test-runs").json()["runs"]] == [runs["head"]]
        assert c.get(f"/agents/{AGENT}").json()["runs"] == 1
        assert c.get("/test-runs/export", params={"ids": gone}).status_code == 404
        assert c.get(f"/agents/{AGENT}/compare", params={"base": gone, "head": runs["head"]}).status_code == 404
        assert c.delete(path).status_code == 404
        # ingest refuses to write into it again
        again = c.post("/test-runs/sync", json={"agent_name": AGENT, "test_run_id": gone, "results": [case(50)]})
        assert again.status_code == 404
        # after the scorer has applied the tombstone it stays gone
        time.sleep(1.0)
        assert c.get(path).status_code == 404 and c.get("/test-runs").json()["total"] == 1


async def test_the_standalone_query_service_with_mcp_through_a_gateway(api, redis_server, tmp_path):
    """docker-compose's query container: its own reads, and /mcp whose tools reach every route
    through INVARIUM_MCP_REST_URL (here the combined API stands in for the gateway)."""
    gateway, _ = api
    env = {"REDIS_URL": redis_server.url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(tmp_path),
           "INVARIUM_MCP_REST_URL": gateway.url}  # fmt: skip
    svc = start_service("services.query", env, tmp_path / "query.log")
    try:
        with client(svc) as c:
            assert c.get("/test-runs").json() == {"runs": [], "page": 1, "limit": 20, "total": 0, "pages": 0,
                                                  "next_cursor": None}  # fmt: skip
            assert c.get("/agents/a1").status_code == 404
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {VIEWER_KEY}"}) as http:
            async with streamable_http_client(f"{svc.url}/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    listed = await session.call_tool("invarium_list_agents", {})
        assert not listed.is_error and AGENT in listed.content[0].text
    finally:
        svc.stop()


def test_result_ids_with_slashes_and_absurd_pages(api):
    """A JUnit case id holds '/' (pytest parametrize ids); a page number past 64 bits is an empty page, not a 500."""
    svc, _ = api
    rid = "tests.test_agent::test_path[a/b/../c]"
    body = {"agent_name": "junit-agent", "source": "ci", "complete": True,
            "results": [{"result_id": rid, "scenario_id": rid, "user_message": "m", "status": "failed", "error": "boom"}]}  # fmt: skip
    with httpx.Client(base_url=svc.url, headers={"X-API-Key": MEMBER_KEY}, timeout=10) as w:
        run = w.post("/v1/test-runs/sync", json=body).json()["test_run_id"]
    with client(svc) as c:
        path = f"/agents/junit-agent/test-runs/{run}"
        deadline = time.monotonic() + 60
        while c.get(path).json()["summary"]["status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        one = c.get(f"{path}/results/{rid.replace('/', '%2F')}")
        assert one.status_code == 200 and one.json()["result_id"] == rid, one.text
        assert c.get(f"{path}/results/x%2Fnope").json() == {"detail": "Result not found: 'x/nope'"}
        for route in (path, "/test-runs"):
            far = c.get(route, params={"page": 10**30, "limit": 100})
            assert far.status_code == 200 and far.json()["next_cursor"] is None, far.text
