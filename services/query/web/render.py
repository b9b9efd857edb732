"""The dashboard's edge: templates (autoescaped), the signed-in principal, page errors, headers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import redis.asyncio as aioredis
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.common.auth import Role, forbidden
from services.query.core.params import InvalidQuery, NotFound
from services.query.live import UNAVAILABLE
from services.query.service import QueryService
from services.query.web.core import fmt
from services.query.web.session import COOKIE, Session, Sessions

HERE = Path(__file__).parent
# No inline script or style anywhere: the policy is strict, so an injected <script> cannot run
# even if some value escaped escaping.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")  # fmt: skip
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}  # fmt: skip

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)  # fmt: skip
env.filters.update(fmt.FILTERS)
env.globals["quote"] = lambda s: quote(str(s), safe="")


class PageError(Exception):
    """An error page: a status and a message a person can act on."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.title = title or {400: "Check the request", 403: "Not allowed", 404: "Not found",
                               503: "Temporarily unavailable"}.get(status, "Something went wrong")  # fmt: skip


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def query_service(request: Request) -> QueryService:
    return request.app.state.query


def sessions(request: Request) -> Sessions:
    return Sessions(query_service(request).live.redis, request.app.state.web_session_ttl_s)


def local_path(value: str | None, default: str = "/test-runs") -> str:
    """A redirect target that stays on this site: a path, never ``//host`` or a full URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return default
    return value


async def current(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    try:
        return await sessions(request).get(token, request.app.state.keyring)
    except aioredis.RedisError:
        raise PageError(503, "Sessions are unavailable (Redis): retry in a few seconds") from None


def signed_in(role: Role = "viewer"):
    """Dependency: the session of a signed-in user with at least ``role`` (else sign in / 403)."""

    async def dependency(request: Request) -> Session:
        request.state.started = time.perf_counter()  # for the Server-Timing header of the page
        session = await current(request)
        if session is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(path)
        require_role(session, role)
        return session

    return dependency


def require_role(session: Session, role: Role) -> None:
    if not session.principal.can(role):
        raise PageError(403, forbidden(role, session.principal.role))


@asynccontextmanager
async def page_errors() -> AsyncIterator[None]:
    """The query service's errors as error pages (the same texts as the REST answers)."""
    try:
        yield
    except NotFound as exc:
        raise PageError(404, str(exc)) from None
    except InvalidQuery as exc:
        raise PageError(400, str(exc)) from None
    except aioredis.RedisError:
        raise PageError(503, UNAVAILABLE) from None


def url(path: str, params: dict[str, Any] | None = None) -> str:
    """``path`` with the non-empty ``params`` (lists repeat), for links that keep a view's filters."""
    pairs = []
    for k, v in (params or {}).items():
        for item in v if isinstance(v, list | tuple) else [v]:
            if item not in (None, "", False):
                pairs.append((k, item))
    return f"{path}?{urlencode(pairs)}" if pairs else path


def page(request: Request, template: str, status: int = 200, session: Session | None = None, **ctx: Any) -> HTMLResponse:
    started = getattr(request.state, "started", None)
    html = env.get_template(template).render(session=session, role=session.principal.role if session else None,
                                             can=lambda r: bool(session) and session.principal.can(r),
                                             url=url, path=request.url.path, **ctx)  # fmt: skip
    headers = dict(SECURITY_HEADERS)
    if started is not None:
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return HTMLResponse(html, status, headers=headers)
