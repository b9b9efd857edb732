"""The whole path on a stream split into 3 partitions: ingest, two scorer workers, the query
service (pending, reads, delete) all agree on where each run lives."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import ADMIN_KEY, API_KEYS, MEMBER_KEY
from tests.e2e.conftest import start_service
from tests.e2e.test_scorer_process import start_scorer
from tests.integration.query_helpers import case

pytestmark = pytest.mark.e2e

PARTS = "3"


def test_three_partitions_two_workers_every_run_scored_read_and_deleted(redis_server, tmp_path):
    redis_server.client().flushall()
    env = {"REDIS_URL": redis_server.url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(tmp_path),
           "INVARIUM_STREAM_PARTITIONS": PARTS, "INVARIUM_QUERY_REFRESH_S": "0.05"}  # fmt: skip
    api = start_service("services.api", env, tmp_path / "api.log")
    workers = [start_scorer(redis_server.url, tmp_path, tmp_path / f"scorer{i}.log", INVARIUM_STREAM_PARTITIONS=PARTS,
                            INVARIUM_MIN_COMMIT_INTERVAL_S="0.05") for i in range(2)]  # fmt: skip
    try:
        with httpx.Client(base_url=f"{api.url}/v1", headers={"X-API-Key": MEMBER_KEY}, timeout=10) as c:
            runs = {}
            for n in range(6):  # six runs of two agents: spread over the partitions by hash
                agent = f"agent-{n % 2}"
                body = {"agent_name": agent, "complete": True, "results": [case(i, ok=i != n % 5) for i in range(5)]}
                resp = c.post("/test-runs/sync", json=body)
                assert resp.status_code == 201, resp.text
                runs[resp.json()["test_run_id"]] = agent
            deadline = time.monotonic() + 60
            while True:
                listing = c.get("/test-runs", params={"limit": 100}).json()
                done = {r["test_run_id"]: r for r in listing["runs"] if r["status"] == "completed" and not r["pending"]}
                if done.keys() == runs.keys():
                    break
                assert time.monotonic() < deadline, listing
                time.sleep(0.1)
            assert all((r["tests"], r["passed"]) == (5, 4) for r in done.values()), list(done.values())
            for run, agent in runs.items():
                detail = c.get(f"/agents/{agent}/test-runs/{run}").json()["summary"]
                assert (detail["total"], detail["pending"], detail["failed"]) == (5, 0, 1)
            gone, agent = next(iter(runs.items()))
            deleted = c.delete(f"/agents/{agent}/test-runs/{gone}", headers={"X-API-Key": ADMIN_KEY})
            assert deleted.status_code == 200, deleted.text
            assert c.get(f"/agents/{agent}/test-runs/{gone}").status_code == 404
            assert gone not in {r["test_run_id"] for r in c.get("/test-runs", params={"limit": 100}).json()["runs"]}
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(15)
        api.stop()
