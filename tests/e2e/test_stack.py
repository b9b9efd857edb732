"""`make up`'s entrypoint: private Redis with AOF, first-start admin key, clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.factories import make_batch

pytestmark = pytest.mark.e2e


def start_stack(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "stack.log"
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "INVARIUM_API_KEYS")}
    full = base | {"INVARIUM_DATA_DIR": str(tmp_path / "data"), "INVARIUM_PORT": str(free_port()),
                   "INVARIUM_REDIS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"} | env  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.stack"], env=full, stdout=out, stderr=subprocess.STDOUT)
    return proc, log


def wait_for(log: Path, pattern: str, proc: subprocess.Popen, timeout: float = 30) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, log.read_text())
        if m:
            return m
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not seen:\n{log.read_text()}")


def test_stack_creates_a_key_runs_the_api_on_persistent_redis_and_stops_everything(tmp_path):
    proc, log = start_stack(tmp_path)
    try:
        key = wait_for(log, r"shown only this once:\s+(\S+)", proc).group(1)
        url = wait_for(log, r"api\s+(http://\S+)", proc).group(1)
        wait_for(log, r"running; Ctrl-C stops everything", proc)
        wait_for(log, r"scorer\s+consumer group 'scorer'", proc)
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = httpx.post(f"{url}/v1/test-runs/sync", headers={"X-API-Key": key},
                                  json={"agent_name": "a1", "results": make_batch(5)}, timeout=10)  # fmt: skip
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert resp.status_code == 201, resp.text
        keys_file = tmp_path / "data" / "api-keys"
        assert keys_file.read_text().strip() == f"{key}:admin"
        assert keys_file.stat().st_mode & 0o077 == 0
        assert list((tmp_path / "data" / "redis").rglob("*.aof")), "AOF must be on for the private Redis"
        deadline = time.monotonic() + 30  # the scorer consumes what ingest logged
        while not list((tmp_path / "data" / "tables").rglob("results/_delta_log/*.json")):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    text = log.read_text()
    assert "stopped" in text
    children = subprocess.run(["pgrep", "-f", str(tmp_path / "data")], capture_output=True, text=True).stdout
    assert children.strip() == "", f"processes left behind: {children}"

    # second start: the key is not printed again
    proc, log2 = start_stack(tmp_path)
    try:
        wait_for(log2, r"API keys: from .*api-keys", proc)
        wait_for(log2, r"running; Ctrl-C stops everything", proc)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    assert key not in log2.read_text()


def test_stack_warns_when_the_configured_redis_keeps_nothing(tmp_path, redis_url):
    proc, log = start_stack(tmp_path, REDIS_URL=redis_url, INVARIUM_API_KEYS="0123456789abcdef0123:admin")
    try:
        wait_for(log, r"WARNING: this Redis has persistence off", proc)
        wait_for(log, r"running; Ctrl-C stops everything", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
