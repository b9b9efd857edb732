"""Re-score end to end: HTTP job + scorer worker + the CLI's progress bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.scorer.tables import Tables
from tests.conftest import ADMIN_KEY, MEMBER_KEY
from tests.e2e.test_scorer_process import start_scorer, wait_until_scored
from tests.factories import make_batch

pytestmark = pytest.mark.e2e

INVARIUM = str(Path(sys.executable).with_name("invarium"))  # installed by the project's set-up


def test_invarium_rescore_switches_the_tables_and_reports_progress(ingest_service, redis_url, rclient, tmp_path):
    scorer = start_scorer(redis_url, tmp_path, tmp_path / "scorer.log")
    try:
        with httpx.Client(base_url=ingest_service.url, headers={"X-API-Key": MEMBER_KEY}, timeout=30) as http:
            for k in range(3):
                assert http.post("/v1/test-runs/sync", json={"agent_name": "a1", "results": make_batch(200, start=k * 200)}).status_code == 201
            assert http.post("/v1/rescore", json={}).status_code == 403  # admin only
            assert http.get("/v1/rescore/rs_nope").json() == {"detail": "Re-score job not found: 'rs_nope'"}
        wait_until_scored(tmp_path, 600, rclient)
        before = Tables(tmp_path).current_name()
        env = os.environ | {"INVARIUM_BASE_URL": ingest_service.url, "INVARIUM_API_KEY": ADMIN_KEY, "COLUMNS": "100"}
        done = subprocess.run([INVARIUM, "rescore"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "done: " in done.stdout and "events" in done.stdout
        assert "queued" in done.stderr  # progress goes to stderr, the answer to stdout
        assert Tables(tmp_path).current_name() != before
        bad = subprocess.run([INVARIUM, "rescore", "--agent", "a/b"], env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "agent_name" in bad.stderr
        unauth = subprocess.run([INVARIUM, "rescore"], env=env | {"INVARIUM_API_KEY": "wrong-key-0123456789"},
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert unauth.returncode != 0 and "Authentication failed: invalid API key" in unauth.stderr
        letters = subprocess.run([INVARIUM, "dead-letters", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert letters.returncode == 0 and letters.stdout.strip() == "[]"
    finally:
        scorer.terminate()
        scorer.wait(15)
