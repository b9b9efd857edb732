"""The ingest entrypoint as a real process over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from services.common import streams
from tests.conftest import ADMIN_KEY, MEMBER_KEY
from tests.factories import make_batch

pytestmark = pytest.mark.e2e


def test_a_full_batch_round_trip_and_clean_sigterm(ingest_service, rclient):
    headers = {"Authorization": f"Bearer {MEMBER_KEY}", "Idempotency-Key": "e2e-1"}
    body = {"agent_name": "support-agent", "source": "ci", "results": make_batch(1000)}
    with httpx.Client(base_url=ingest_service.url, timeout=30) as http:
        first = http.post("/v1/test-runs/sync", json=body, headers=headers)
        assert first.status_code == 201, first.text
        assert first.json()["accepted"] == 1000
        retry = http.post("/v1/test-runs/sync", json=body, headers=headers)
        assert retry.json() == first.json()
        assert http.get("/openapi.json").status_code == 200
    assert rclient.xlen(streams.stream_key(0)) == 1001
    assert ingest_service.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown
    log = ingest_service.log.read_text()
    assert "Application shutdown complete" in log
    assert MEMBER_KEY not in log and ADMIN_KEY not in log  # nothing sensitive is logged


def test_refuses_to_start_without_api_keys(redis_url, tmp_path):
    env = os.environ | {"REDIS_URL": redis_url, "INVARIUM_DATA_DIR": str(tmp_path), "INVARIUM_API_KEYS": ""}
    done = subprocess.run([sys.executable, "-m", "services.ingest"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "No API keys configured" in done.stderr
