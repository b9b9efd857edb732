"""``InvariumClient``: the one REST client the CLI and the MCP tools share.

A thin async wrapper over httpx: one method per route of the ingest and query contract
(``/work/briefs/query-contract.md`` / README), JSON in and out. Every non-2xx answer raises
``InvariumError`` carrying the server's status and ``detail`` text unchanged, so each client can
show the server's own message. Writes retry with backoff on network errors, 429 and 5xx while
reusing one Idempotency-Key per request, so a retry never writes twice.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from schemas.wire import MAX_RESULTS_PER_SYNC

DEFAULT_BASE_URL = "http://localhost:8000"
_RETRY_STATUS = frozenset({429, 502, 503, 504})


class InvariumError(Exception):
    """A failed call: ``status`` is the HTTP status (None when the server was not reached)."""

    def __init__(self, status: int | None, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class SyncSummary:
    """What a (possibly multi-request) sync wrote."""

    test_run_id: str = ""
    agent_name: str = ""
    status: str = ""
    url: str = ""
    accepted: int = 0
    duplicates: int = 0
    requests: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"test_run_id": self.test_run_id, "agent_name": self.agent_name, "status": self.status,
                "url": self.url, "accepted": self.accepted, "duplicates": self.duplicates,
                "requests": self.requests}  # fmt: skip


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip() or f"HTTP {resp.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    return str(detail if detail is not None else body)


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != [] and v != ""}


class InvariumClient:
    """Async client of one Invarium backend. Use as ``async with InvariumClient(url, key) as c:``.

    ``transport`` lets a caller route requests elsewhere than the network, e.g. the MCP endpoint
    hands in an ``httpx.ASGITransport`` to call the API app it is mounted in.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        self._retries = retries
        self._backoff = backoff_s
        self._sleep = sleep

    async def __aenter__(self) -> InvariumClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing -------------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, params=None, json=None, headers=None) -> httpx.Response:
        try:
            return await self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise InvariumError(None, f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from None

    async def request(
        self, method: str, path: str, *, params=None, json=None, idempotency_key: str | None = None, retry: bool = False
    ) -> Any:
        """One call; with ``retry``, network errors, 429 and 5xx are retried with the same key."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        attempt = 0
        while True:
            try:
                resp = await self._send(method, path, params=params, json=json, headers=headers)
            except InvariumError:
                if not retry or attempt >= self._retries:
                    raise
                wait = None
            else:
                if resp.status_code < 400:
                    return resp.json()
                if not retry or attempt >= self._retries or resp.status_code not in _RETRY_STATUS:
                    raise InvariumError(resp.status_code, _detail(resp))
                wait = _retry_after(resp)
            attempt += 1
            await self._sleep(wait if wait is not None else self._backoff * 2 ** (attempt - 1))

    # -- ingest ---------------------------------------------------------------------------

    async def sync(
        self, agent_name: str, results: Sequence[dict[str, Any]], *, test_run_id: str | None = None,
        source: str = "api", complete: bool = False, idempotency_key: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """One ``POST /v1/test-runs/sync`` of at most 1,000 results (retried with one key)."""
        body = _clean({"agent_name": agent_name, "test_run_id": test_run_id, "source": source})
        body |= {"results": list(results), "complete": complete}
        key = idempotency_key or f"inv-{uuid.uuid4().hex}"
        return await self.request("POST", "/v1/test-runs/sync", json=body, idempotency_key=key, retry=True)

    async def sync_all(
        self, agent_name: str, results: Sequence[dict[str, Any]], *, test_run_id: str | None = None,
        source: str = "api", complete: bool = True, batch_size: int = MAX_RESULTS_PER_SYNC,
        on_batch: Callable[[int], None] | None = None,
    ) -> SyncSummary:  # fmt: skip
        """Sync any number of results in requests of at most ``batch_size``: the first creates the run
        (unless ``test_run_id`` is given), later ones append to it; ``complete`` marks the last one."""
        if not results:
            raise InvariumError(None, "nothing to sync: no results")
        size = max(1, min(batch_size, MAX_RESULTS_PER_SYNC))
        out = SyncSummary(test_run_id=test_run_id or "", agent_name=agent_name)
        for start in range(0, len(results), size):
            chunk = results[start : start + size]
            last = start + size >= len(results)
            answer = await self.sync(agent_name, chunk, test_run_id=out.test_run_id or None, source=source,
                                     complete=complete and last)  # fmt: skip
            out.test_run_id, out.status, out.url = answer["test_run_id"], answer["status"], answer["url"]
            out.accepted += answer.get("accepted", 0)
            out.duplicates += answer.get("duplicates", 0)
            out.requests += 1
            out.answers.append(answer)
            if on_batch:
                on_batch(len(chunk))
        return out

    async def complete_run(self, agent_name: str, test_run_id: str) -> dict[str, Any]:
        path = f"/v1/agents/{_seg(agent_name)}/test-runs/{_seg(test_run_id)}/complete"
        return await self.request("POST", path, idempotency_key=f"inv-{uuid.uuid4().hex}", retry=True)

    # -- query ----------------------------------------------------------------------------

    async def list_runs(
        self, *, agents: Sequence[str] = (), date_range: str | None = None, since: str | None = None,
        until: str | None = None, status: str | None = None, sources: Sequence[str] = (), page: int | None = None,
        limit: int | None = None, cursor: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        params = _clean({"agent": list(agents), "range": date_range, "since": since, "until": until,
                         "status": status, "source": list(sources), "page": page, "limit": limit, "cursor": cursor})  # fmt: skip
        return await self.request("GET", "/v1/test-runs", params=params)

    async def get_run(
        self, agent_name: str, test_run_id: str, *, status: str | None = None, category: str | None = None,
        severity: str | None = None, q: str | None = None, page: int | None = None, limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        params = _clean({"status": status, "category": category, "severity": severity, "q": q, "page": page,
                         "limit": limit, "cursor": cursor})  # fmt: skip
        return await self.request("GET", f"/v1/agents/{_seg(agent_name)}/test-runs/{_seg(test_run_id)}", params=params)

    async def get_result(self, agent_name: str, test_run_id: str, result_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/agents/{_seg(agent_name)}/test-runs/{_seg(test_run_id)}/results/{_seg(result_id)}")

    async def wait_scored(self, agent_name: str, run_ids: Sequence[str], *, timeout_s: float,
                          interval_s: float = 0.5) -> dict[str, int]:  # fmt: skip
        """Wait until no result of the runs is pending (accepted, not yet scored). Returns the
        pending count per run at the end: all zero, or what was left when ``timeout_s`` ran out.
        A run not readable yet (just synced) counts as pending until the deadline."""
        deadline = time.monotonic() + timeout_s
        pending: dict[str, int] = {}
        while True:
            for run_id in run_ids:
                if pending.get(run_id) == 0:
                    continue
                try:
                    summary = (await self.get_run(agent_name, run_id, limit=1))["summary"]
                    pending[run_id] = int(summary.get("pending") or 0)
                except InvariumError as exc:
                    if exc.status != 404 or time.monotonic() >= deadline:
                        raise
                    pending[run_id] = -1  # not visible yet
            if all(v == 0 for v in pending.values()) or time.monotonic() >= deadline:
                return pending
            await asyncio.sleep(interval_s)

    async def compare(self, agent_name: str, base: str, head: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/agents/{_seg(agent_name)}/compare", params={"base": base, "head": head})

    async def list_agents(self) -> dict[str, Any]:
        return await self.request("GET", "/v1/agents")

    async def get_agent(self, agent_name: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/agents/{_seg(agent_name)}")

    async def delete_run(self, agent_name: str, test_run_id: str) -> dict[str, Any]:
        return await self.request("DELETE", f"/v1/agents/{_seg(agent_name)}/test-runs/{_seg(test_run_id)}")

    @asynccontextmanager
    async def export(self, ids: Sequence[str], fmt: str = "jsonl") -> AsyncIterator[AsyncIterator[bytes]]:
        """``async with c.export(ids, "csv") as chunks: async for b in chunks: ...`` (streamed)."""
        params = {"ids": ",".join(ids), "format": fmt}
        try:
            async with self._http.stream("GET", "/v1/test-runs/export", params=params) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise InvariumError(resp.status_code, _detail(resp))
                yield resp.aiter_bytes()
        except httpx.HTTPError as exc:
            raise InvariumError(None, f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}") from None

    # -- scoring admin --------------------------------------------------------------------

    async def start_rescore(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", "/v1/rescore", json=body)

    async def rescore_status(self, job_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/rescore/{_seg(job_id)}")

    async def dead_letters(self, limit: int = 1000) -> list[dict[str, Any]]:
        return (await self.request("GET", "/v1/dead-letters", params={"limit": limit}))["dead_letters"]

    async def redrive(self, partition: int, dead_id: str) -> dict[str, Any]:
        return await self.request("POST", f"/v1/dead-letters/{partition}/{_seg(dead_id)}/redrive")


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After", "")
    try:
        return min(float(value), 30.0)
    except ValueError:
        return None
