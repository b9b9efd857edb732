"""Bad input: a 4xx with a message a person can act on, nothing written, never a 500."""

from __future__ import annotations

import orjson
import pytest

from services.common import streams
from tests.conftest import start_redis
from tests.factories import make_batch, make_result

pytestmark = pytest.mark.integration

STREAM = streams.stream_key(0)


def body(**over):
    return {"agent_name": "support-agent", "source": "ci", "results": make_batch(1)} | over


CASES = [
    ("too many results", body(results=make_batch(1001)), 422,
     "results: a sync holds at most 1,000 results (got 1,001); split them into several syncs to the same test_run_id"),
    ("no results", body(results=[]), 422, "results: at least one result is required"),
    ("empty agent", body(agent_name=""), 422, "agent_name is required and cannot be empty"),
    ("blank agent", body(agent_name="   "), 422, "agent_name is required and cannot be empty"),
    ("slash in agent", body(agent_name="a/b"), 422, "agent_name 'a/b' must not contain '/', '\\' or '..'"),
    ("backslash in agent", body(agent_name="a\\b"), 422, "must not contain"),
    ("dot-dot agent", body(agent_name="a..b"), 422, "must not contain"),
    ("control char agent", body(agent_name="a\nb"), 422, "agent_name 'a\\nb' contains control characters"),
    ("long agent", body(agent_name="a" * 129), 422, "agent_name is too long (129 characters); the limit is 128"),
    ("odd agent", body(agent_name="-agent"), 422, "use letters, digits"),
    ("bad run id", body(test_run_id="../etc"), 422, "test_run_id '../etc' must not contain"),
    ("unknown source", body(source="jenkins"), 422, "source: Input should be 'mcp', 'ci', 'cli' or 'api' (got 'jenkins')"),
    ("wrong type", body(results=[make_result(0) | {"duration_ms": "slow"}]), 422, "results.0.duration_ms"),
    ("bad complexity", body(results=[make_result(0) | {"complexity": "hard"}]), 422, "results.0.complexity"),
    ("bad tool_match", body(results=[make_result(0) | {"tool_match": "fuzzy"}]), 422, "results.0.tool_match"),
    ("missing scenario", body(results=[{"user_message": "hi"}]), 422, "results.0.scenario_id: Field required"),
    ("negative tokens", body(results=[make_result(0) | {"llm_calls": [{"model": "m", "input_tokens": -1}]}]), 422,
     "results.0.llm_calls.0.input_tokens"),
    ("results not a list", body(results={"a": 1}), 422, "results: Input should be a valid array"),
    ("body not an object", [1, 2], 422, "Request body must be a JSON object"),
    ("missing agent", {"results": make_batch(1)}, 422, "agent_name: Field required"),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_sync_is_refused_and_writes_nothing(client, rclient, payload, status, message):
    resp = await client.post("/v1/test-runs/sync", content=orjson.dumps(payload), headers={"Content-Type": "application/json"})
    assert resp.status_code == status, resp.text
    assert message in resp.json()["detail"]
    assert rclient.dbsize() == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b'{"agent_name": "a", "results": [', "Malformed JSON"), (b"", "Request body is empty"), (b"not json", "Malformed JSON")],
)
async def test_malformed_json_is_400(client, rclient, raw, message):
    resp = await client.post("/v1/test-runs/sync", content=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["detail"].startswith(message)
    assert rclient.dbsize() == 0


async def test_body_over_the_limit_is_413(make_client, rclient):
    c = await make_client(max_body_bytes=50_000)
    resp = await c.post("/v1/test-runs/sync", json=body(results=make_batch(40)))
    assert resp.status_code == 413
    assert "Request body too large: the limit is 50,000 bytes" in resp.json()["detail"]
    assert rclient.dbsize() == 0


async def test_body_over_the_limit_without_content_length_is_413(make_client, rclient):
    c = await make_client(max_body_bytes=50_000)
    data = orjson.dumps(body(results=make_batch(40)))

    async def chunks():
        for i in range(0, len(data), 8192):
            yield data[i : i + 8192]

    resp = await c.post("/v1/test-runs/sync", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413 and rclient.dbsize() == 0


async def test_wrong_content_type_is_415(client, rclient):
    resp = await client.post("/v1/test-runs/sync", content=b"agent_name=a", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 415 and "application/json" in resp.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/agents/a..b/test-runs", "/v1/agents/a%00b/test-runs",
                                  "/v1/agents/ok/test-runs/bad%0Arun/results", "/v1/agents/ok/test-runs/..%2F..%2Fx/complete"])  # fmt: skip
async def test_bad_names_in_paths_are_refused(client, rclient, path):
    resp = await client.post(path, json={"results": make_batch(1)})
    assert 400 <= resp.status_code < 500, resp.text
    assert rclient.dbsize() == 0


async def test_too_long_idempotency_key_is_422(client, rclient):
    resp = await client.post("/v1/test-runs/sync", json=body(), headers={"Idempotency-Key": "k" * 300})
    assert resp.status_code == 422 and "Idempotency-Key" in resp.json()["detail"]
    assert rclient.dbsize() == 0


async def test_redis_down_is_503_not_500(make_client, tmp_path):
    server = start_redis(tmp_path / "doomed")
    c = await make_client(redis_url=server.url)
    server.stop()
    resp = await c.post("/v1/test-runs/sync", json=body())
    assert resp.status_code == 503 and "nothing was written" in resp.json()["detail"]
