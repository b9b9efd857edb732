"""Query HTTP routes: parse, call the service, answer. Nothing else."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from schemas import query as answers
from schemas.wire import ErrorResponse
from services.common.auth import Principal
from services.common.http import json_response, require
from services.query import export as exporter
from services.query.service import QueryService

router = APIRouter(prefix="/v1", tags=["query"])

_ERRORS = {c: {"model": ErrorResponse} for c in (400, 401, 403, 404, 422, 503)}
_viewer = Depends(require("viewer"))

Page = Query(1, description="Page number, 1 or greater (ignored when `cursor` is given).")
Limit = Query(20, description="Rows per page, 1 to 100.")
Cursor = Query(None, description="Opaque `next_cursor` of a previous answer: stays fast on deep pages.")
RunStatus = Query(None, description="Result status: passed, failed, error or pending.")


def _doc(model) -> dict:
    """The answer's model for the OpenAPI document (answers are built by the core and sent as is)."""
    return {200: {"model": model}, **_ERRORS}


def _svc(request: Request) -> QueryService:
    return request.app.state.query


@router.get("/test-runs", responses=_doc(answers.RunsPage))
async def list_test_runs(
    request: Request,
    agent: list[str] = Query([], description="One or more agents (repeat, or comma-separate)."),
    range_: str | None = Query(None, alias="range", description="Last 24h, 7d or 30d."),
    since: str | None = Query(None, description="Custom range start (ISO-8601)."),
    until: str | None = Query(None, description="Custom range end (ISO-8601)."),
    status: str | None = Query(None, description="all, has_failures or all_passed."),
    source: list[str] = Query([], description="mcp, ci, cli or api (repeatable)."),
    page: int = Page, limit: int = Limit, cursor: str | None = Cursor, who: Principal = _viewer,
):  # fmt: skip
    """Test runs, newest first, filtered by agent, date range, status and source."""
    return json_response(await _svc(request).runs(agents=agent, range_=range_, since=since, until=until, status=status,
                                                  sources=source, page=page, limit=limit, cursor_=cursor))  # fmt: skip


@router.get("/test-runs/export", responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}, **_ERRORS})
async def export_test_runs(
    request: Request,
    ids: list[str] = Query([], description="Test run ids, comma-separated or repeated."),
    format: str | None = Query("json", description="csv, json (an array) or jsonl."),
    who: Principal = _viewer,
):
    """Every result of one or more runs, streamed as CSV, JSON or JSON lines."""
    media, body = await _svc(request).export(ids, format)
    return StreamingResponse(body, media_type=media, headers=exporter.attachment(media))


@router.get("/agents", responses=_doc(answers.Agents))
async def list_agents(request: Request, who: Principal = _viewer):
    """Agents with their AQS, latest run and score trend."""
    return json_response(await _svc(request).agents())


@router.get("/agents/{agent_name}", responses=_doc(answers.Agent))
async def get_agent(agent_name: str, request: Request, who: Principal = _viewer):
    """One agent: AQS, latest run and score trend over its runs (oldest first)."""
    return json_response(await _svc(request).agent(agent_name))


@router.get("/agents/{agent_name}/test-runs/", include_in_schema=False)
async def run_detail_without_id(agent_name: str, request: Request, who: Principal = _viewer):
    """A run-detail request with an empty run id."""
    return json_response(await _svc(request).run_detail(agent_name, ""))


@router.get("/agents/{agent_name}/test-runs/{test_run_id}", responses=_doc(answers.RunDetail))
async def get_test_run(
    agent_name: str,
    test_run_id: str,
    request: Request,
    status: str | None = RunStatus,
    category: str | None = Query(None, description="Failure category: tool_usage, knowledge, safety, runtime, other."),
    severity: str | None = Query(None, description="critical, high, medium or low."),
    q: str | None = Query(None, description="Case-insensitive text search in the user message."),
    page: int = Page, limit: int = Limit, cursor: str | None = Cursor, who: Principal = _viewer,
):  # fmt: skip
    """A run's summary and a page of its test case results, filtered by status, category, severity or text."""
    return json_response(await _svc(request).run_detail(agent_name, test_run_id, status=status, category=category,
                                                        severity=severity, q=q, page=page, limit=limit, cursor_=cursor))  # fmt: skip


# ``:path``: result ids are free text and may hold '/' (pytest ids such as ``test_x[a/b]``), which
# arrives decoded even when the client sent %2F.
@router.get("/agents/{agent_name}/test-runs/{test_run_id}/results/{result_id:path}", responses=_doc(answers.CaseDetail))
async def get_result(agent_name: str, test_run_id: str, result_id: str, request: Request, who: Principal = _viewer):
    """One test case: messages, tool calls, verdict, expected vs actual sequence, LLM calls, timing, trace."""
    return json_response(await _svc(request).case(agent_name, test_run_id, result_id))


@router.get("/agents/{agent_name}/compare", responses=_doc(answers.Comparison))
async def compare_runs(
    agent_name: str,
    request: Request,
    base: str | None = Query(None, description="The earlier run's id."),
    head: str | None = Query(None, description="The later run's id."),
    who: Principal = _viewer,
):
    """Compare two runs case by case: score deltas, regressions, fixes, new and missing cases."""
    return json_response(await _svc(request).compare(agent_name, base, head))


@router.delete("/agents/{agent_name}/test-runs/", include_in_schema=False)
async def delete_without_id(agent_name: str, request: Request, who: Principal = Depends(require("admin"))):
    """A delete with an empty run id."""
    return json_response(await _svc(request).delete(agent_name, ""))


@router.delete("/agents/{agent_name}/test-runs/{test_run_id}", responses=_doc(answers.Deleted))
async def delete_test_run(agent_name: str, test_run_id: str, request: Request, who: Principal = Depends(require("admin"))):
    """Delete a run, its results and traces from every read at once (admin; cannot be undone)."""
    return json_response(await _svc(request).delete(agent_name, test_run_id))
