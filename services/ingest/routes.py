"""Ingest HTTP routes: parse, call the service, answer. Nothing else."""

from __future__ import annotations

from typing import Any

import msgspec

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response
from pydantic import TypeAdapter

from schemas import fast
from schemas.names import check_name
from schemas.wire import (
    AppendResultsRequest,
    CreateRunRequest,
    ErrorResponse,
    RescoreJob,
    RescoreRequest,
    RunResponse,
    SyncRequest,
    SyncResponse,
)
from services.common import deadletters, jobs
from services.common.auth import Principal
from services.common.http import ApiError, json_response, parse_json, read_body, require
from services.ingest.service import IngestService, Written

router = APIRouter(prefix="/v1", tags=["ingest"])

_SYNC = TypeAdapter(SyncRequest)
_APPEND = TypeAdapter(AppendResultsRequest)
_CREATE = TypeAdapter(CreateRunRequest)
_RESCORE = TypeAdapter(RescoreRequest)

_ERRORS = {
    c: {"model": ErrorResponse}
    for c in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
}


def _body_doc(model) -> dict:
    ref = model.__name__
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
        }
    }


IdempotencyKey = Header(
    default=None,
    alias="Idempotency-Key",
    max_length=255,
    description="Retry-safe writes: a retried request with the same key returns the original answer.",
)


def _service(request: Request) -> IngestService:
    return request.app.state.ingest


def _name(value: str, what: str) -> str:
    try:
        return check_name(value, what)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None


def _decode_batch(body: bytes, adapter: TypeAdapter, fast_decode) -> tuple[Any, fast.Batch]:
    """The validated batch head and its results (``schemas.fast.Batch``).

    The msgspec mirror (``schemas.fast``) decodes first; only a body it refuses goes to the
    pydantic contract, which either refuses it with the precise message (empty, malformed,
    wrong content) or accepts what the lenient contract allows, re-decoded from its output.
    """
    try:
        return fast_decode(body)
    except msgspec.DecodeError as exc:
        refused = exc
    model = parse_json(adapter, body)
    try:
        return fast_decode(adapter.dump_json(model))
    except msgspec.DecodeError:
        raise ApiError(422, str(refused)) from None


def _link(request: Request, agent: str, run: str) -> str:
    return f"{request.app.state.settings.public_base_url}/agent/{agent}/test-runs/{run}"


def _answer(request: Request, w: Written, *, results: bool = True) -> Response:
    o = w.outcome
    base = {"test_run_id": w.run, "agent_name": w.agent, "status": o.status, "url": _link(request, w.agent, w.run)}
    if results:
        body = SyncResponse(**base, accepted=o.accepted, duplicates=o.duplicates).model_dump()
    else:
        body = RunResponse(**base, source=o.source).model_dump()
    headers = {"Idempotent-Replayed": "true"} if w.replayed else None
    return json_response(body, 201 if o.created else 200, headers)


@router.post(
    "/test-runs/sync",
    response_model=SyncResponse,
    status_code=201,
    responses={200: {"model": SyncResponse, "description": "Appended to an existing run"}, **_ERRORS},
    openapi_extra=_body_doc(SyncRequest),
)
async def sync_results(
    request: Request, who: Principal = Depends(require("member")), idem: str | None = IdempotencyKey
):
    """Sync up to 1,000 results: creates a run, or appends to ``test_run_id`` (incremental syncs)."""
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    req, batch = _decode_batch(body, _SYNC, fast.decode_sync)
    return _answer(request, await _service(request).sync(req, batch, who, idem, body))


@router.post(
    "/agents/{agent_name}/test-runs",
    response_model=RunResponse,
    status_code=201,
    responses=_ERRORS,
    openapi_extra={"requestBody": {"required": False, **_body_doc(CreateRunRequest)["requestBody"]}},
)
async def create_run(
    agent_name: str, request: Request, who: Principal = Depends(require("member")), idem: str | None = IdempotencyKey
):
    """Create an empty (streaming) run; its results read as pending until they are scored."""
    agent = _name(agent_name, "agent_name")
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    req = parse_json(_CREATE, body, empty_ok=True)
    return _answer(request, await _service(request).create_run(agent, req, who, idem, body), results=False)


@router.post(
    "/agents/{agent_name}/test-runs/{test_run_id}/results",
    response_model=SyncResponse,
    responses=_ERRORS,
    openapi_extra=_body_doc(AppendResultsRequest),
)
async def append_results(
    agent_name: str,
    test_run_id: str,
    request: Request,
    who: Principal = Depends(require("member")),
    idem: str | None = IdempotencyKey,
):
    """Append a batch of up to 1,000 results to a run."""
    agent, run = _name(agent_name, "agent_name"), _name(test_run_id, "test_run_id")
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    req, batch = _decode_batch(body, _APPEND, fast.decode_append)
    return _answer(request, await _service(request).append(agent, run, req, batch, who, idem, body))


@router.post("/agents/{agent_name}/test-runs/{test_run_id}/complete", response_model=RunResponse, responses=_ERRORS)
async def complete_run(
    agent_name: str,
    test_run_id: str,
    request: Request,
    who: Principal = Depends(require("member")),
    idem: str | None = IdempotencyKey,
):
    """Mark a run finished. Completing a completed run is a no-op."""
    agent, run = _name(agent_name, "agent_name"), _name(test_run_id, "test_run_id")
    return _answer(request, await _service(request).complete(agent, run, who, idem), results=False)


@router.post(
    "/rescore",
    response_model=RescoreJob,
    status_code=202,
    responses=_ERRORS,
    openapi_extra={"requestBody": {"required": False, **_body_doc(RescoreRequest)["requestBody"]}},
    tags=["scoring"],
)
async def start_rescore(request: Request, who: Principal = Depends(require("admin"))):
    """Re-score everything, an agent, some runs or a date range with the current algorithm (admin)."""
    body = await read_body(request, 1024 * 1024)
    req = parse_json(_RESCORE, body, empty_ok=True)
    job_id, fields = await jobs.enqueue(request.app.state.redis, req.model_dump(mode="json"))
    return json_response(_job(request, job_id, fields), 202)


@router.get("/rescore/{job_id}", response_model=RescoreJob, responses=_ERRORS, tags=["scoring"])
async def rescore_status(job_id: str, request: Request, who: Principal = Depends(require("viewer"))):
    """Progress of a re-score job."""
    fields = await jobs.read(request.app.state.redis, _name(job_id, "job_id"))
    if fields is None:
        raise ApiError(404, f"Re-score job not found: '{job_id}'")
    return json_response(_job(request, job_id, fields))


def _job(request: Request, job_id: str, f: dict[str, str]) -> dict:
    url = f"{request.app.state.settings.public_base_url}/v1/rescore/{job_id}"
    return RescoreJob(job_id=job_id, **jobs.view(f), url=url).model_dump()


@router.get("/dead-letters", responses=_ERRORS, tags=["scoring"])
async def dead_letters(request: Request, who: Principal = Depends(require("admin")), limit: int = 100):
    """Events the scorer gave up on after its retries, with their last error (admin)."""
    if not 1 <= limit <= 1000:
        raise ApiError(422, "limit must be between 1 and 1000")
    settings = request.app.state.settings
    letters = await deadletters.list_dead_letters(request.app.state.redis, settings.stream_partitions, count=limit)
    return json_response({"dead_letters": [
        {"id": d.dead_id, "partition": d.partition, "stream_id": d.stream_id, "error": d.error,
         "deliveries": d.deliveries, "size_bytes": len(d.data)} for d in letters
    ]})  # fmt: skip


@router.post("/dead-letters/{partition}/{dead_id}/redrive", responses=_ERRORS, tags=["scoring"])
async def redrive_dead_letter(partition: int, dead_id: str, request: Request, who: Principal = Depends(require("admin"))):
    """Put a dead letter back on its stream (e.g. after a scorer fix); it is scored like a new event."""
    redis = request.app.state.redis
    if not 0 <= partition < request.app.state.settings.stream_partitions:
        raise ApiError(404, f"Dead letter not found: partition {partition} does not exist")
    letter = await deadletters.get_dead_letter(redis, partition, dead_id)
    if letter is None:
        raise ApiError(404, f"Dead letter not found: '{dead_id}' in partition {partition}")
    return json_response({"stream_id": await deadletters.redrive(redis, letter), "partition": partition})
