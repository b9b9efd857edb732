"""Scorer processes: crash safety (SIGKILL mid-batch) and scale-out, end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from services.common import streams
from services.scorer.tables import Tables
from tests.conftest import API_KEYS
from tests.factories import make_batch
from tests.integration.test_scorer import result_event

pytestmark = pytest.mark.e2e

STREAM = streams.stream_key(0)


def start_scorer(redis_url: str, data: Path, log: Path, **env: str) -> subprocess.Popen:
    full = os.environ | {"REDIS_URL": redis_url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(data),
                         "INVARIUM_CLAIM_IDLE_MS": "1000", "INVARIUM_CLAIM_INTERVAL_S": "0.5",
                         "INVARIUM_BATCH_SIZE": "500"} | env  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.scorer"], env=full, stdout=out, stderr=subprocess.STDOUT)


def scored(data: Path) -> tuple[int, int]:
    files = Tables(data).current().files("results")
    if not files:
        return 0, 0
    return duckdb.sql(f"SELECT count(*), count(DISTINCT (run, result_id)) FROM read_parquet({files!r})").fetchall()[0]


def wait_until_scored(data: Path, n: int, rclient, timeout: float = 90) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        groups = rclient.xinfo_groups(STREAM)
        if groups and groups[0]["lag"] == 0 and groups[0]["pending"] == 0 and scored(data)[0] >= n:
            break
        time.sleep(0.3)
    return scored(data)


def log_runs(rclient, runs: int, per_run: int, *, start: int = 0) -> int:
    pipe = rclient.pipeline(transaction=False)
    for r in range(start, start + runs):
        for i, res in enumerate(make_batch(per_run, start=r * per_run, seed=r)):
            pipe.xadd(STREAM, {"__data__": result_event(r * per_run + i, res, run=f"run-{r}")})
    pipe.execute()
    return runs * per_run


def test_sigkill_mid_batch_then_restart_scores_exactly_what_was_sent(redis_url, rclient, tmp_path):
    sent = log_runs(rclient, 8, 1000)
    log = tmp_path / "scorer.log"
    first = start_scorer(redis_url, tmp_path, log)
    deadline = time.monotonic() + 60
    while scored(tmp_path)[0] == 0:  # let it commit at least one batch, then kill it mid-stream
        assert time.monotonic() < deadline and first.poll() is None, log.read_text()
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert scored(tmp_path)[0] < sent, "killed too late to test anything"
    second = start_scorer(redis_url, tmp_path, log)
    try:
        total, distinct = wait_until_scored(tmp_path, sent, rclient)
    finally:
        second.terminate()
        second.wait(15)
    assert (total, distinct) == (sent, sent), log.read_text()[-3000:]


def test_two_worker_processes_score_every_event_exactly_once(redis_url, rclient, tmp_path):
    logs = [tmp_path / "scorer-a.log", tmp_path / "scorer-b.log"]
    workers = [start_scorer(redis_url, tmp_path, log, INVARIUM_DEBUG="1") for log in logs]
    sent, chunk = 0, 0
    try:
        # Results keep coming, in chunks, until both workers have committed some: a worker reads
        # ahead, so the first one up could take a whole stream logged at once before the other starts.
        deadline = time.monotonic() + 60
        while not all("committed" in log.read_text() for log in logs) or chunk < 6:
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), logs[0].read_text()
            sent += log_runs(rclient, 1, 500, start=chunk)
            chunk += 1
            time.sleep(0.2)
        total, distinct = wait_until_scored(tmp_path, sent, rclient)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(15)
    assert (total, distinct) == (sent, sent), logs[0].read_text()[-3000:]
    assert len({c["name"] for c in rclient.xinfo_consumers(STREAM, "scorer")}) == 2
