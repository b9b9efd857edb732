"""``make up``: run everything that exists on local defaults, in the foreground.

Starts a private redis-server (AOF, ``appendfsync everysec``) under the data directory
unless REDIS_URL is set, creates an admin API key on first start when none is configured,
then runs each service as its own process. Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from pydantic import AliasChoices, Field

from services.common.settings import API_KEYS_FILE, CommonSettings

SERVICES = [("api", "services.api"), ("scorer", "services.scorer")]


class StackSettings(CommonSettings):
    redis_url: str | None = Field(default=None, validation_alias=AliasChoices("REDIS_URL", "INVARIUM_REDIS_URL"))  # type: ignore[assignment]
    redis_port: int = Field(default=6380, ge=1, le=65535, description="Port of the private redis-server")


def say(msg: str) -> None:
    print(f"[invarium] {msg}", flush=True)


@dataclass
class Stack:
    settings: StackSettings
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    stopping: bool = False

    def ensure_api_keys(self) -> None:
        keys_file = self.settings.data_dir / API_KEYS_FILE
        if self.settings.api_keys.strip():
            say("API keys: from INVARIUM_API_KEYS")
            return
        if keys_file.is_file():
            say(f"API keys: from {keys_file}")
            return
        key = secrets.token_urlsafe(32)
        keys_file.touch(mode=0o600)
        keys_file.write_text(f"{key}:admin\n")
        say(f"Created an admin API key in {keys_file}; it is shown only this once:")
        print(f"\n    {key}\n", flush=True)

    def redis_url(self) -> str:
        if self.settings.redis_url:
            warn_if_not_persistent(self.settings.redis_url)
            return self.settings.redis_url
        binary = ensure_redis_server()
        rdir = self.settings.data_dir / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        port = self.settings.redis_port if port_free(self.settings.redis_port) else free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir.resolve()),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
                "--logfile", str((rdir / "redis.log").resolve())]  # fmt: skip
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(("redis", proc))
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url, proc)
        say(f"redis    {url}  (private, AOF everysec, data in {rdir})")
        return url

    def start_services(self, redis_url: str) -> None:
        env = os.environ | {
            "REDIS_URL": redis_url,
            "INVARIUM_DATA_DIR": str(self.settings.data_dir),
            "INVARIUM_PORT": str(self.settings.port),
            "INVARIUM_HOST": self.settings.host,
        }
        for name, module in SERVICES:
            proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdin=subprocess.DEVNULL, start_new_session=True)
            self.procs.append((name, proc))
        say(f"api      http://{self.settings.host}:{self.settings.port}  (dashboard: /, OpenAPI: /docs, MCP: /mcp)")
        say(f"scorer   consumer group '{self.settings.scorer_group}', tables in {self.settings.data_dir / 'tables'}")

    def stop(self, *_: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        say("stopping…")
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in 15 s; killing it")
                proc.kill()
                proc.wait()
        say("stopped")

    def wait(self) -> int:
        while not self.stopping:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    say(f"{name} exited with code {proc.returncode}; stopping the stack")
                    self.stop()
                    return 1
            time.sleep(0.2)
        return 0


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("redis-server is not installed; installing the Debian package…")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=env)
        found = shutil.which("redis-server")
        if found:
            return found
    raise SystemExit(
        "redis-server is not installed. Install it with `sudo apt-get install -y redis-server` "
        "(Debian/Ubuntu) or `brew install redis` (macOS), or point REDIS_URL at a running Redis."
    )


def wait_for_redis(url: str, proc: subprocess.Popen | None = None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_timeout=2)
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if (proc and proc.poll() is not None) or time.monotonic() > deadline:
                raise SystemExit(f"Redis at {url} did not come up") from None
            time.sleep(0.05)


def warn_if_not_persistent(url: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        info = client.info("persistence")
        aof = int(info.get("aof_enabled", 0)) == 1
        try:
            save = client.config_get("save").get("save", "")
        except redis.ResponseError:  # CONFIG disabled (managed Redis): judge by AOF alone
            save = "unknown"
    except redis.ConnectionError as exc:
        raise SystemExit(f"Cannot reach Redis at REDIS_URL: {exc}") from None
    say(f"redis    {redact_url(url)}  (from REDIS_URL)")
    if not aof and not save:
        say("WARNING: this Redis has persistence off (no AOF, no RDB saves): events will not survive a Redis "
            "restart. Turn on `appendonly yes` or leave REDIS_URL unset to use a private, persistent redis-server.")  # fmt: skip


def redact_url(url: str) -> str:
    """Never print a password from REDIS_URL."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def main() -> int:
    settings = StackSettings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings)
    signal.signal(signal.SIGTERM, stack.stop)
    signal.signal(signal.SIGINT, stack.stop)
    try:
        stack.ensure_api_keys()
        stack.start_services(stack.redis_url())
        say("running; Ctrl-C stops everything")
        return stack.wait()
    except SystemExit as exc:
        stack.stop()
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        raise
    except BaseException:
        stack.stop()
        raise


if __name__ == "__main__":
    raise SystemExit(main())
