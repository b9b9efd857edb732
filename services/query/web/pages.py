"""Read pages of the dashboard: runs list, run detail, case detail, compare, agents.

Each route parses its query, asks ``QueryService`` (the same calls as the REST routes) and
renders a template. ``?part=live`` answers only the part of a page that updates itself.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from services.query.core.params import RANGES, RESULT_STATUSES, SEVERITIES, SOURCES
from services.query.core.present import FAILURE_KEYS, run_url
from services.query.web.core import charts
from services.query.web.core.dates import custom_range
from services.query.web.render import PageError, page, page_errors, query_service, signed_in
from services.query.web.session import Session

router = APIRouter(include_in_schema=False)
_viewer = Depends(signed_in("viewer"))
LIMITS = (20, 50, 100)


def run_path(agent: str, run: str) -> str:
    """The run page's path: the API's run link (``present.run_url``) without its base URL."""
    return run_url("", agent, run)


def whole(value: str | None, what: str, default: int | None = None) -> int | None:
    """A whole-number query parameter (parsed here so a bad one gets an error page, not JSON)."""
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise PageError(400, f"{what} must be a whole number (got {value[:40]!r})") from None


def _limit(value: str | None, default: int = 50) -> int:
    """Rows per page: the links offer ``LIMITS``; any 1–100 works, as in the REST routes."""
    limit = whole(value, "limit", default)
    if not 1 <= limit <= 100:
        raise PageError(400, "limit must be between 1 and 100")
    return limit


@router.get("/")
@router.get("/test-runs")
async def runs_list(
    request: Request, agent: list[str] = Query([]), range_: str | None = Query(None, alias="range"),
    from_: str | None = Query(None, alias="from"), to: str | None = None, tz: str | None = None,
    status: str | None = None, source: list[str] = Query([]), cursor: str | None = None, limit: str | None = None,
    deleted: str | None = None,
    session: Session = _viewer,
):  # fmt: skip
    svc = query_service(request)
    limit = _limit(limit)
    tz_minutes = whole(tz, "tz", 0)
    if range_ and range_ != "custom" and range_ not in RANGES:
        raise PageError(400, f"Invalid range '{range_}': use 24h, 7d, 30d or custom")
    filters = {"agent": agent, "range": range_ or "", "from": from_ if range_ == "custom" else "",
               "to": to if range_ == "custom" else "", "tz": tz_minutes if range_ == "custom" else "",
               "status": status or "", "source": source, "limit": limit if limit != 50 else ""}  # fmt: skip
    async with page_errors():
        since, until = custom_range(from_, to, tz_minutes) if range_ == "custom" else (None, None)
        answer = await svc.runs(agents=agent, range_=range_ if range_ in RANGES else None, since=since, until=until,
                                status=status or None, sources=source, limit=limit, cursor_=cursor)  # fmt: skip
        agents = await svc.agent_names()
    filtered = any(filters[k] for k in ("agent", "range", "status", "source"))
    start = (answer["page"] - 1) * limit + 1
    return page(request, "runs.html", session=session, answer=answer, filters=filters, agents=agents,
                filtered=filtered, first=start, last=start + len(answer["runs"]) - 1, limits=LIMITS,
                sources=SOURCES, deleted=whole(deleted, "deleted"), run_path=run_path, base_url=svc.base_url)  # fmt: skip


@router.get("/agent/{agent}/test-runs/{run_id}")
async def run_detail(
    request: Request, agent: str, run_id: str, status: str | None = None, category: str | None = None,
    severity: str | None = None, q: str | None = None, cursor: str | None = None, limit: str | None = None,
    part: str | None = None, session: Session = _viewer,
):  # fmt: skip
    limit = _limit(limit)
    filters = {"status": status or "", "category": category or "", "severity": severity or "", "q": q or "",
               "limit": limit if limit != 50 else ""}  # fmt: skip
    async with page_errors():
        answer = await query_service(request).run_detail(
            agent, run_id, status=status or None, category=category or None, severity=severity or None,
            q=q or None, limit=limit, cursor_=cursor)  # fmt: skip
    s = answer["summary"]
    here = run_path(s["agent_name"], s["test_run_id"])
    live = s["status"] in ("running", "pending") or s["pending"] > 0
    ctx = dict(answer=answer, s=s, filters=filters, here=here, live=live, cursor=cursor,
               slices=charts.pie(s["failure_breakdown"]), categories=FAILURE_KEYS, statuses=RESULT_STATUSES,
               severities=SEVERITIES, limits=LIMITS)  # fmt: skip
    return page(request, "run_live.html" if part == "live" else "run.html", session=session, **ctx)


@router.get("/agent/{agent}/test-runs/{run_id}/results/{result_id:path}")
async def case_detail(request: Request, agent: str, run_id: str, result_id: str, part: str | None = None,
                      session: Session = _viewer):  # fmt: skip
    async with page_errors():
        case = await query_service(request).case(agent, run_id, result_id)
    ctx = dict(c=case, agent=agent, run_id=run_id, run_href=run_path(agent, run_id), tools=case["tools_called"],
               trace=charts.timeline(case["trace"]), live=case["status"] == "pending",
               here=f"{run_path(agent, run_id)}/results/{result_id}")  # fmt: skip
    return page(request, "case_live.html" if part == "live" else "case.html", session=session, **ctx)


@router.get("/agent/{agent}/compare")
async def compare(request: Request, agent: str, base: str | None = None, head: str | None = None,
                  session: Session = _viewer):  # fmt: skip
    async with page_errors():
        cmp = await query_service(request).compare(agent, base, head)
    counts = cmp["category_changes"]
    rows = [(k, counts.get(k, {}).get("base", 0), counts.get(k, {}).get("head", 0)) for k in FAILURE_KEYS]
    return page(request, "compare.html", session=session, c=cmp, agent=cmp["agent_name"], run_path=run_path,
                category_rows=rows)  # fmt: skip


@router.get("/agents")
async def agents(request: Request, session: Session = _viewer):
    async with page_errors():
        answer = await query_service(request).agents()
    return page(request, "agents.html", session=session, agents=answer["agents"], trend=charts.trend,
                run_path=run_path, base_url=query_service(request).base_url)  # fmt: skip


@router.get("/agent/{agent}")
async def agent(request: Request, agent: str, session: Session = _viewer):
    async with page_errors():
        view = await query_service(request).agent(agent)
    return page(request, "agent.html", session=session, a=view, run_path=run_path,
                lines=charts.trend(view["trend"], width=720, height=200, pad=12))  # fmt: skip

