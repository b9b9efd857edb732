from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEYS, free_port


@dataclass
class Service:
    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.wait(timeout)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"service at {url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


def start_service(module: str, env: dict[str, str], log: Path, port: int | None = None) -> Service:
    port = port or free_port()
    full_env = os.environ | {"INVARIUM_PORT": str(port), "INVARIUM_HOST": "127.0.0.1"} | env
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module], env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc, log)
    return Service(url, proc, log)


@pytest.fixture
def ingest_service(redis_url: str, tmp_path: Path) -> Iterator[Service]:
    env = {"REDIS_URL": redis_url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(tmp_path)}
    svc = start_service("services.ingest", env, tmp_path / "ingest.log")
    yield svc
    svc.stop()
