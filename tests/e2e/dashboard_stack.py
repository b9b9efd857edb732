"""The running stack for the dashboard's browser tests: API process + scorer on a real
redis-server, seeded over HTTP; Debian's chromium driven by Playwright; screenshots saved."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEYS, MEMBER_KEY, free_port
from tests.e2e.conftest import Service, start_service
from tests.e2e.test_scorer_process import start_scorer
from tests.integration.query_helpers import case

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("INVARIUM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
AGENT = "support-bot"
HOSTILE = "Our policy says <script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\"> & <b>bold</b>"


@dataclass
class Stack:
    svc: Service
    scorer: subprocess.Popen
    data: Path
    runs: dict[str, str] = field(default_factory=dict)  # name -> test_run_id
    links: dict[str, str] = field(default_factory=dict)  # name -> the url the sync answer gave

    @property
    def url(self) -> str:
        return self.svc.url

    def api(self, key: str = MEMBER_KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key}, timeout=10)

    def sync(self, name: str, agent: str, source: str, cases: list[dict], complete: bool = True) -> str:
        with self.api() as c:
            resp = c.post("/v1/test-runs/sync", json={"agent_name": agent, "source": source, "complete": complete,
                                                      "results": cases})  # fmt: skip
        assert resp.status_code == 201, resp.text
        self.runs[name], self.links[name] = resp.json()["test_run_id"], resp.json()["url"]
        return self.runs[name]

    def wait_scored(self, *names: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with self.api() as c:
            for name in names:
                agent = self.agent_of(name)
                while True:
                    got = c.get(f"/v1/agents/{agent}/test-runs/{self.runs[name]}")
                    if got.status_code == 200 and got.json()["summary"]["status"] == "completed":
                        break
                    assert time.monotonic() < deadline, got.text
                    time.sleep(0.1)

    def agent_of(self, name: str) -> str:
        return self.links[name].split("/agent/")[1].split("/")[0]


def start_stack(redis_url: str, data: Path) -> Stack:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"REDIS_URL": redis_url, "INVARIUM_API_KEYS": API_KEYS, "INVARIUM_DATA_DIR": str(data),
           "INVARIUM_BASE_URL": base, "INVARIUM_QUERY_REFRESH_S": "0.05"}  # fmt: skip
    svc = start_service("services.api", env, data / "api.log", port=port)
    scorer = start_scorer(redis_url, data, data / "scorer.log", INVARIUM_STATS_INTERVAL_S="0.05",
                          INVARIUM_MIN_COMMIT_INTERVAL_S="0.05")  # fmt: skip
    return Stack(svc, scorer, data)


def stop_stack(stack: Stack) -> None:
    stack.scorer.terminate()
    stack.scorer.wait(15)
    stack.svc.stop()


def seed(stack: Stack) -> None:
    """Runs the tests read: a base/head pair that regress and fix, another agent, a run whose
    agent response is hostile HTML, and a run to delete."""
    stack.sync("base", AGENT, "ci", [case(i, ok=i != 3) for i in range(8)])
    stack.sync("head", AGENT, "ci", [case(i, ok=i not in (1, 2)) for i in range(8)])
    hostile = case(0)
    hostile["agent_response"] = HOSTILE
    hostile["tools_called"][0]["result"] = "<script>window.__xss = 3</script>"
    hostile["llm_calls"][0]["model"] = "house-model-without-a-price"
    stack.sync("html", AGENT, "cli", [hostile])
    stack.sync("other", "billing-bot", "mcp", [case(i) for i in range(3)])
    stack.sync("doomed", "billing-bot", "api", [case(i) for i in range(2)])
    stack.wait_scored("base", "head", "html", "other", "doomed")


@pytest.fixture(scope="module")
def stack(redis_server, tmp_path_factory) -> Iterator[Stack]:
    redis_server.client().flushall()
    s = start_stack(redis_server.url, tmp_path_factory.mktemp("dashboard"))
    try:
        seed(s)
        yield s
    finally:
        stop_stack(s)


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and every later asyncio.run() (other modules' tests) would fail on it.
@pytest.fixture(scope="module")
def browser():
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                                            "--disable-background-networking", "--disable-component-update",
                                                            "--disable-sync", "--no-first-run"])  # fmt: skip
        yield b
        b.close()


def shot(page, name: str) -> None:
    """Keep a screenshot of the page for a reviewer (test-artifacts/screenshots/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
