"""Sign-in and sign-out, and the bulk actions of the runs list: compare, export, re-score, delete.

Every state-changing request is a POST that carries the session's CSRF token and comes from
this site (``Origin`` / ``Sec-Fetch-Site``); the session cookie is SameSite=Strict as well.
What a role may do is the REST routes' rule: viewers read and export, admins re-score and delete.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from schemas.names import check_name
from services.common import jobs
from services.common.auth import AUTH_FAILED, digest
from services.query import export as exporter
from services.query.web.render import (
    SECURITY_HEADERS, PageError, current, local_path, page, page_errors, query_service, require_role, sessions,
    signed_in, url,
)  # fmt: skip
from services.query.web.session import COOKIE, SIGNIN_COOKIE, Session

router = APIRouter(include_in_schema=False)
MAX_SELECTED = 1000
DELETE_WARNING = "Deleting a test run removes all associated test case results and traces. This action cannot be undone."


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _redirect(to: str) -> RedirectResponse:
    return RedirectResponse(to, 303, headers={"Cache-Control": "no-store"})


def same_site(request: Request) -> None:
    """Refuse a request that a browser says came from another site."""
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
        origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host")
    ):
        raise PageError(403, "Forbidden: this request came from another site")


async def checked_form(request: Request, session: Session) -> dict[str, list[str]]:
    same_site(request)
    form = await request.form()
    if not session.csrf_ok(form.get("csrf")):
        raise PageError(403, "Forbidden: the form has expired or did not come from this dashboard; reload the page and try again")
    return {k: form.getlist(k) for k in form.keys()}


def selection(values: list[str]) -> list[tuple[str, str]]:
    """Checked rows (``agent/run``), validated: names become paths elsewhere."""
    picked = list(dict.fromkeys(v for v in values if v))
    if not picked:
        raise PageError(400, "Select one or more test runs first (tick their checkboxes in the list)")
    if len(picked) > MAX_SELECTED:
        raise PageError(400, f"Select at most {MAX_SELECTED:,} test runs at a time (got {len(picked):,})")
    out = []
    for value in picked:
        agent, sep, run = value.partition("/")
        try:
            out.append((check_name(agent, "agent_name"), check_name(run, "test_run_id")))
        except ValueError as exc:
            raise PageError(400, f"Invalid selection {value!r}: {exc}") from None
        if not sep:
            raise PageError(400, f"Invalid selection {value!r}: expected <agent>/<test run id>")
    return out


# -- sign-in ---------------------------------------------------------------------------------
def _sign_in_page(request: Request, next_path: str, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    resp = page(request, "signin.html", status, token=token, next_path=next_path, error=error)
    resp.set_cookie(SIGNIN_COOKIE, token, max_age=1800, httponly=True, samesite="strict", secure=_secure(request),
                    path="/sign-in")  # fmt: skip
    return resp


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None):
    next_path = local_path(next)
    if await current(request) is not None:
        return _redirect(next_path)
    return _sign_in_page(request, next_path)


@router.post("/sign-in")
async def sign_in(request: Request):
    same_site(request)
    form = await request.form()
    next_path = local_path(form.get("next"))
    sent, expected = form.get("token") or "", request.cookies.get(SIGNIN_COOKIE) or ""
    if not expected or not secrets.compare_digest(str(sent), expected):
        return _sign_in_page(request, next_path, "The sign-in form expired; enter your API key again.", 403)
    key = str(form.get("api_key") or "").strip()
    principal = request.app.state.keyring.authenticate(key)
    if principal is None:
        return _sign_in_page(request, next_path, AUTH_FAILED, 401)
    token, _ = await sessions(request).create(digest(key))
    resp = _redirect(next_path)
    resp.set_cookie(COOKIE, token, max_age=sessions(request).ttl_s, httponly=True, samesite="strict",
                    secure=_secure(request), path="/")  # fmt: skip
    resp.delete_cookie(SIGNIN_COOKIE, path="/sign-in", httponly=True, samesite="strict", secure=_secure(request))
    return resp


@router.post("/sign-out")
async def sign_out(request: Request, session: Session = Depends(signed_in("viewer"))):
    await checked_form(request, session)
    await sessions(request).drop(session.token)
    resp = _redirect("/sign-in")
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return resp


# -- bulk actions ----------------------------------------------------------------------------
@router.get("/test-runs/action")
async def bulk_action(request: Request, action: str = "", run: list[str] = Query([]),
                      session: Session = Depends(signed_in("viewer"))):  # fmt: skip
    """The list's toolbar: a GET that only navigates; changes happen on the confirmation's POST."""
    picked = selection(run)
    if action == "compare":
        if len(picked) != 2:
            raise PageError(400, f"Compare needs exactly two test runs (you selected {len(picked)})")
        (agent_h, head), (agent_b, base) = picked  # the list is newest first: the first ticked is head
        if agent_h != agent_b:
            raise PageError(400, f"Compare needs two runs of the same agent (got '{agent_h}' and '{agent_b}')")
        return _redirect(url(f"/agent/{agent_h}/compare", {"base": base, "head": head}))
    if action in ("export-csv", "export-json"):
        return _redirect(url("/test-runs/export", {"ids": ",".join(r for _, r in picked), "format": action.removeprefix("export-")}))
    if action in ("delete", "rescore"):
        require_role(session, "admin")
        return page(request, "confirm.html", session=session, action=action, picked=picked, warning=DELETE_WARNING)
    raise PageError(400, f"Unknown action '{action}': use compare, export-csv, export-json, rescore or delete")


@router.get("/test-runs/export")
async def export(request: Request, ids: list[str] = Query([]), format: str | None = "csv",
                 session: Session = Depends(signed_in("viewer"))):  # fmt: skip
    async with page_errors():
        media, body = await query_service(request).export(ids, format)
    return StreamingResponse(body, media_type=media, headers={**exporter.attachment(media), **SECURITY_HEADERS})


@router.post("/test-runs/delete")
async def delete(request: Request, session: Session = Depends(signed_in("admin"))):
    form = await checked_form(request, session)
    svc = query_service(request)
    done = 0
    async with page_errors():
        for agent, run in selection(form.get("run", [])):
            await svc.delete(agent, run)
            done += 1
    return _redirect(url("/test-runs", {"deleted": done}))


@router.post("/test-runs/rescore")
async def rescore(request: Request, session: Session = Depends(signed_in("admin"))):
    form = await checked_form(request, session)
    picked = selection(form.get("run", []))
    agents = {a for a, _ in picked}
    chosen = {"agent_name": agents.pop() if len(agents) == 1 else None,
              "test_run_ids": sorted({r for _, r in picked}), "since": None, "until": None}  # fmt: skip
    async with page_errors():
        job_id, _ = await jobs.enqueue(query_service(request).live.redis, chosen)
    return _redirect(f"/rescore/{job_id}")


@router.get("/rescore/{job_id}")
async def rescore_job(request: Request, job_id: str, part: str | None = None,
                      session: Session = Depends(signed_in("viewer"))):  # fmt: skip
    try:
        job_id = check_name(job_id, "job_id")
    except ValueError:
        raise PageError(404, f"Re-score job not found: '{job_id}'") from None
    async with page_errors():
        job = await jobs.read(query_service(request).live.redis, job_id)
    if job is None:
        raise PageError(404, f"Re-score job not found: '{job_id}'")
    job = jobs.view(job)
    ctx = dict(job=job, job_id=job_id, live=job["status"] in ("queued", "running"), total=job["total"], done=job["done"])
    return page(request, "job_live.html" if part == "live" else "job.html", session=session, **ctx)
