"""Ingest use cases: sync, create, append, complete. Between the HTTP edge and the event log."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import fast
from schemas.wire import CreateRunRequest
from services.common.auth import Principal
from services.common.http import ApiError
from services.ingest.core import derived_run_id, envelope, iso, prepare_results, request_fingerprint
from services.ingest.eventlog import AppendOutcome, AppendRequest, EventLog
from services.ingest.settings import IngestSettings


@dataclass(frozen=True)
class Written:
    agent: str
    run: str
    outcome: AppendOutcome
    replayed: bool


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IngestService:
    def __init__(self, log: EventLog, settings: IngestSettings, clock: Callable[[], datetime] = _utcnow) -> None:
        self._log = log
        self._settings = settings
        self._clock = clock

    async def sync(
        self, req: fast.SyncHead, batch: fast.Batch, who: Principal, idem_key: str | None, body: bytes
    ) -> Written:
        if req.test_run_id is None:
            run = derived_run_id(who.key_id, req.agent_name, idem_key) if idem_key else f"tr_{secrets.token_hex(8)}"
            mode = "create"
        else:
            run, mode = req.test_run_id, "append"
        fp = request_fingerprint("sync", body) if idem_key else ""
        return await self._write(
            req.agent_name, run, mode, who, idem_key, fp,
            source=req.source, run_mode="sync", results=batch, complete=req.complete,
        )  # fmt: skip

    async def create_run(self, agent: str, req: CreateRunRequest, who: Principal, idem_key: str | None, body: bytes):
        if req.test_run_id:
            run = req.test_run_id
        else:
            run = derived_run_id(who.key_id, agent, idem_key) if idem_key else f"tr_{secrets.token_hex(8)}"
        fp = request_fingerprint("create", agent, body) if idem_key else ""
        return await self._write(agent, run, "create", who, idem_key, fp, source=req.source, run_mode="streaming")

    async def append(
        self, agent: str, run: str, req: fast.AppendHead, batch: fast.Batch, who: Principal, idem_key, body: bytes
    ) -> Written:
        fp = request_fingerprint("append", agent, run, body) if idem_key else ""
        return await self._write(agent, run, "append", who, idem_key, fp, results=batch, complete=req.complete)

    async def complete(self, agent: str, run: str, who: Principal, idem_key: str | None) -> Written:
        fp = request_fingerprint("complete", agent, run)
        return await self._write(agent, run, "complete", who, idem_key, fp, complete=True)

    async def _write(
        self, agent, run, mode, who: Principal, idem_key, fp, *,
        source="api", run_mode="sync", results: fast.Batch | None = None, complete=False,
    ) -> Written:  # fmt: skip
        if results is not None:
            await self._check_backlog(agent, run)
        now = self._clock()
        sync_id = secrets.token_hex(8)
        prepared = (
            prepare_results(
                results, agent=agent, run=run, source=source, sync_id=sync_id, at=now,
                redact=self._settings.redact_pii,
            )
            if results is not None
            else None
        )  # fmt: skip
        stamp = iso(now)
        req = AppendRequest(
            agent=agent,
            run=run,
            mode=mode,
            fingerprint=fp,
            idempotency_digest=_idem_digest(who, idem_key),
            source=source,
            run_mode=run_mode,
            complete=complete,
            created_event=envelope(
                "RunCreated", event_id=f"{sync_id}.created", agent=agent, run=run, at=stamp,
                payload={"source": source, "mode": run_mode},
            ) if mode == "create" else b"",
            completed_event=envelope(
                "RunCompleted", event_id=f"{sync_id}.completed", agent=agent, run=run, at=stamp, payload={}
            ) if complete else b"",
            result_ids=prepared.result_ids if prepared else (),
            entries_blob=prepared.blob if prepared else b"",
        )  # fmt: skip
        outcome = await self._log.append(req)
        _raise_for(outcome, agent, run, idem_key)
        return Written(agent, run, outcome, replayed=outcome.kind == "replay")

    async def _check_backlog(self, agent: str, run: str) -> None:
        p = self._log.partition(agent, run)
        backlog = await self._log.backlog(p)
        limit = self._settings.max_backlog
        if backlog > limit:
            raise ApiError(
                429,
                f"Ingest is throttled: the scorer is {backlog:,} events behind on this stream partition "
                f"(limit {limit:,}, INVARIUM_MAX_BACKLOG). Retry after a few seconds with the same Idempotency-Key.",
                headers={"Retry-After": "5"},
            )


def _idem_digest(who: Principal, idem_key: str | None) -> str | None:
    if not idem_key:
        return None
    return hashlib.sha256(f"{who.key_id}\x1f{idem_key}".encode()).hexdigest()


def _raise_for(outcome: AppendOutcome, agent: str, run: str, idem_key: str | None) -> None:
    match outcome.kind:
        case "ok" | "replay":
            return
        case "conflict":
            raise ApiError(
                422,
                f"Idempotency-Key {idem_key!r} was already used for a different request; "
                "use a new key for a new request",
            )
        case "exists":
            raise ApiError(409, f"Test run '{run}' already exists for agent '{agent}'; choose another test_run_id")
        case "missing":
            raise ApiError(
                404,
                f"Test run not found: '{run}' (agent '{agent}'). Create it first, or sync without test_run_id",
            )
        case "completed":
            raise ApiError(409, f"Test run '{run}' is completed; it takes no new results. Start a new run")
    raise ApiError(500, "Unexpected event log answer")  # pragma: no cover - a bug, not bad input
