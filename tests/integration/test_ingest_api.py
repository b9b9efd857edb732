"""The ingest HTTP API against a real redis-server."""

from __future__ import annotations

import orjson
import pytest
import redis

from schemas.upcast import parse_event
from services.common import streams
from tests.conftest import ADMIN_KEY, VIEWER_KEY
from tests.factories import make_batch, make_result

pytestmark = pytest.mark.integration

STREAM = streams.stream_key(0)


def events(r: redis.Redis, key: str = STREAM):
    return [parse_event(orjson.loads(fields[b"__data__"])) for _, fields in r.xrange(key)]


def sync_body(n: int = 3, **extra):
    return {"agent_name": "support-agent", "source": "ci", "results": make_batch(n), **extra}


async def test_sync_creates_a_run_and_logs_one_event_per_result(client, rclient):
    resp = await client.post("/v1/test-runs/sync", json=sync_body(3))
    assert resp.status_code == 201, resp.text
    body = resp.json()
    run = body["test_run_id"]
    assert body["accepted"] == 3 and body["duplicates"] == 0 and body["status"] == "running"
    assert body["url"] == f"http://testserver/agent/support-agent/test-runs/{run}"
    evs = events(rclient)
    assert [e.type for e in evs] == ["RunCreated", "ResultsSynced", "ResultsSynced", "ResultsSynced"]
    assert {e.run for e in evs} == {run} and {e.agent for e in evs} == {"support-agent"}
    assert evs[0].payload.source == "ci" and evs[0].payload.mode == "sync"
    assert [e.payload.results[0].result_id for e in evs[1:]] == ["case-00000", "case-00001", "case-00002"]
    assert len({e.event_id for e in evs}) == 4


async def test_incremental_syncs_append_to_the_same_run(client, rclient):
    run = (await client.post("/v1/test-runs/sync", json=sync_body(2))).json()["test_run_id"]
    more = {"agent_name": "support-agent", "test_run_id": run, "results": make_batch(2, start=100)}
    resp = await client.post("/v1/test-runs/sync", json=more)
    assert resp.status_code == 200 and resp.json()["accepted"] == 2
    assert [e.type for e in events(rclient)].count("ResultsSynced") == 4
    assert int(rclient.hget(streams.run_key(0, "support-agent", run), "accepted")) == 4


async def test_results_without_client_ids_get_unique_server_ids(client, rclient):
    results = [make_result(i, result_id=None) | {"result_id": None} for i in range(3)]
    resp = await client.post("/v1/test-runs/sync", json={"agent_name": "a1", "results": results})
    assert resp.json()["accepted"] == 3
    ids = [e.payload.results[0].result_id for e in events(rclient) if e.type == "ResultsSynced"]
    assert len(set(ids)) == 3


async def test_repeated_result_ids_are_written_once(client, rclient):
    first = await client.post("/v1/test-runs/sync", json=sync_body(3))
    run = first.json()["test_run_id"]
    batch = make_batch(3) + [make_result(0)]  # case-00000 again within the batch too
    again = await client.post("/v1/test-runs/sync", json={"agent_name": "support-agent", "test_run_id": run, "results": batch})
    assert again.status_code == 200
    assert again.json() | {"url": None} == {
        "test_run_id": run, "agent_name": "support-agent", "accepted": 0, "duplicates": 4,
        "status": "running", "url": None,
    }  # fmt: skip
    assert rclient.xlen(STREAM) == 4


async def test_idempotency_key_makes_a_retry_a_no_op(client, rclient):
    headers = {"Idempotency-Key": "ci-build-77-batch-1"}
    first = await client.post("/v1/test-runs/sync", json=sync_body(5), headers=headers)
    retry = await client.post("/v1/test-runs/sync", json=sync_body(5), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert rclient.xlen(STREAM) == 6


async def test_idempotency_key_reused_for_another_request_is_refused(client, rclient):
    headers = {"Idempotency-Key": "k-1"}
    await client.post("/v1/test-runs/sync", json=sync_body(2), headers=headers)
    other = await client.post("/v1/test-runs/sync", json=sync_body(3), headers=headers)
    assert other.status_code == 422
    assert "already used for a different request" in other.json()["detail"]
    assert rclient.xlen(STREAM) == 3


async def test_streaming_run_lifecycle(client, rclient):
    created = await client.post("/v1/agents/stream-agent/test-runs", json={"source": "mcp"})
    assert created.status_code == 201, created.text
    run = created.json()["test_run_id"]
    assert created.json()["status"] == "running" and created.json()["source"] == "mcp"
    path = f"/v1/agents/stream-agent/test-runs/{run}"
    for start in (0, 10):
        resp = await client.post(f"{path}/results", json={"results": make_batch(10, start=start)})
        assert resp.status_code == 200 and resp.json()["accepted"] == 10
    done = await client.post(f"{path}/complete")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert (await client.post(f"{path}/complete")).status_code == 200  # idempotent
    late = await client.post(f"{path}/results", json={"results": make_batch(1, start=99)})
    assert late.status_code == 409 and "is completed" in late.json()["detail"]
    retry = await client.post(f"{path}/results", json={"results": make_batch(10, start=10)})
    assert retry.status_code == 200 and retry.json()["accepted"] == 0
    types = [e.type for e in events(rclient)]
    assert types[0] == "RunCreated" and types.count("ResultsSynced") == 20 and types.count("RunCompleted") == 1
    assert events(rclient)[0].payload.mode == "streaming"


async def test_create_empty_without_body_and_with_client_run_id(client):
    assert (await client.post("/v1/agents/a1/test-runs")).status_code == 201
    mine = await client.post("/v1/agents/a1/test-runs", json={"test_run_id": "build-1234"})
    assert mine.status_code == 201 and mine.json()["test_run_id"] == "build-1234"
    dup = await client.post("/v1/agents/a1/test-runs", json={"test_run_id": "build-1234"})
    assert dup.status_code == 409 and "already exists" in dup.json()["detail"]


async def test_sync_complete_flag_closes_the_run(client, rclient):
    resp = await client.post("/v1/test-runs/sync", json=sync_body(2, complete=True))
    assert resp.json()["status"] == "completed"
    assert [e.type for e in events(rclient)][-1] == "RunCompleted"


async def test_unknown_run_is_404_and_writes_nothing(client, rclient):
    resp = await client.post("/v1/test-runs/sync", json=sync_body(2, test_run_id="tr_nope"))
    assert resp.status_code == 404
    assert resp.json()["detail"].startswith("Test run not found: 'tr_nope'")
    assert (await client.post("/v1/agents/a/test-runs/tr_nope/complete")).status_code == 404
    assert rclient.xlen(STREAM) == 0


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
@pytest.mark.parametrize("key", [None, "", "not-a-real-key-at-all"])
async def test_missing_or_unknown_key_is_401(make_client, rclient, header, key):
    c = await make_client(key=None)
    headers = {} if key is None else {header: (f"Bearer {key}" if header == "Authorization" else key)}
    resp = await c.post("/v1/test-runs/sync", json=sync_body(1), headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {"detail": "Authentication failed: invalid API key"}
    assert rclient.xlen(STREAM) == 0


async def test_x_api_key_header_authenticates(make_client):
    c = await make_client(key=None)
    resp = await c.post("/v1/test-runs/sync", json=sync_body(1), headers={"X-API-Key": ADMIN_KEY})
    assert resp.status_code == 201


async def test_viewer_cannot_write(make_client, rclient):
    c = await make_client(key=VIEWER_KEY)
    resp = await c.post("/v1/test-runs/sync", json=sync_body(1))
    assert resp.status_code == 403 and "needs the member role" in resp.json()["detail"]
    assert rclient.xlen(STREAM) == 0


async def test_pii_is_redacted_before_it_is_written(client, rclient):
    result = make_result(1)
    result["user_message"] = "I am jane.doe@example.com, SSN 123-45-6789, card 4111 1111 1111 1111"
    result["tools_called"][0]["arguments"] = {"auth": {"password": "hunter2hunter2"}, "phone": "call +1 415 555 2671"}
    await client.post("/v1/test-runs/sync", json={"agent_name": "a1", "results": [result]})
    raw = b"".join(f[b"__data__"] for _, f in rclient.xrange(STREAM))
    for secret in (b"jane.doe@example.com", b"123-45-6789", b"4111 1111 1111 1111", b"hunter2hunter2", b"555 2671"):
        assert secret not in raw
    assert b"[REDACTED:EMAIL]" in raw and b"[REDACTED:SSN]" in raw and b"[REDACTED:CARD]" in raw


async def test_redaction_can_be_turned_off(make_client, rclient):
    c = await make_client(redact_pii=False)
    result = make_result(1) | {"user_message": "mail jane.doe@example.com"}
    await c.post("/v1/test-runs/sync", json={"agent_name": "a1", "results": [result]})
    assert b"jane.doe@example.com" in b"".join(f[b"__data__"] for _, f in rclient.xrange(STREAM))


async def test_backpressure_answers_429_and_writes_nothing(make_client, rclient):
    c = await make_client(max_backlog=5)
    assert (await c.post("/v1/test-runs/sync", json=sync_body(6))).status_code == 201
    c2 = await make_client(max_backlog=5)  # fresh backlog cache
    resp = await c2.post("/v1/test-runs/sync", json=sync_body(1))
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "scorer is 7 events behind" in resp.json()["detail"]
    assert rclient.xlen(STREAM) == 7
    # a scorer group that has consumed and acked everything clears the backlog
    rclient.xgroup_create(STREAM, "scorer", id="0")
    ids = [i for _, entries in rclient.xreadgroup("scorer", "w1", {STREAM: ">"}) for i, _ in entries]
    rclient.xack(STREAM, "scorer", *ids)
    c3 = await make_client(max_backlog=5)
    assert (await c3.post("/v1/test-runs/sync", json=sync_body(1))).status_code == 201


async def test_partitions_keep_each_run_in_one_stream(make_client, rclient):
    c = await make_client(stream_partitions=4)
    runs = []
    for n in range(12):
        resp = await c.post("/v1/test-runs/sync", json={"agent_name": f"agent-{n}", "results": make_batch(2)})
        runs.append((f"agent-{n}", resp.json()["test_run_id"]))
    used = set()
    for agent, run in runs:
        p = streams.partition_of(agent, run, 4)
        used.add(p)
        evs = [e for e in events(rclient, streams.stream_key(p)) if e.run == run]
        assert [e.type for e in evs] == ["RunCreated", "ResultsSynced", "ResultsSynced"]
    assert len(used) > 1
    assert sum(rclient.xlen(k) for k in streams.stream_keys(4)) == 36


async def test_openapi_documents_the_routes_and_bodies(client):
    spec = (await client.get("/openapi.json")).json()
    for path in ("/v1/test-runs/sync", "/v1/agents/{agent_name}/test-runs",
                 "/v1/agents/{agent_name}/test-runs/{test_run_id}/results",
                 "/v1/agents/{agent_name}/test-runs/{test_run_id}/complete"):  # fmt: skip
        assert path in spec["paths"]
    assert "SyncRequest" in spec["components"]["schemas"]
    assert "TestCaseResult" in spec["components"]["schemas"]


async def test_dead_letters_are_listed_and_redriven_over_http(make_client, rclient):
    from services.common.deadletters import dead_letter_key

    rclient.xadd(dead_letter_key(0), {"stream_id": "1-0", "error": "KeyError: 'result_id'", "deliveries": 6,
                                      "at": 0, "__data__": b'{"type": "ResultsSynced"}'})  # fmt: skip
    admin = await make_client(key=ADMIN_KEY)
    member = await make_client()
    assert (await member.get("/v1/dead-letters")).status_code == 403
    listed = (await admin.get("/v1/dead-letters")).json()["dead_letters"]
    assert [(d["stream_id"], d["error"], d["deliveries"]) for d in listed] == [("1-0", "KeyError: 'result_id'", 6)]
    assert (await admin.post("/v1/dead-letters/0/9-9/redrive")).status_code == 404
    assert (await admin.post("/v1/dead-letters/7/9-9/redrive")).status_code == 404
    moved = await admin.post(f"/v1/dead-letters/0/{listed[0]['id']}/redrive")
    assert moved.status_code == 200
    assert rclient.xlen(dead_letter_key(0)) == 0
    assert rclient.xrange(STREAM)[-1][1][b"__data__"] == b'{"type": "ResultsSynced"}'


async def test_what_the_lenient_contract_allows_is_accepted_and_logged_normalised(client, rclient):
    result = make_result(1) | {"duration_ms": "1210", "complete": None}  # a number sent as text
    resp = await client.post("/v1/test-runs/sync", json={"agent_name": "a1", "results": [result]})
    assert resp.status_code == 201, resp.text
    logged = [e for e in events(rclient) if e.type == "ResultsSynced"][0].payload.results[0]
    assert logged.duration_ms == 1210.0
