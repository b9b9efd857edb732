"""Adds the dashboard to the app that hosts the query routes (the API process, or the query
container behind the gateway): pages, actions, their static files and their error pages."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.query.settings import QuerySettings
from services.query.web import actions, pages
from services.query.web.render import HERE, PageError, SignInRequired, current, page, url


class _Static(StaticFiles):
    """The dashboard's own script, styles and icon, cached for an hour (they change only with a release)."""

    def file_response(self, *args, **kwargs):
        resp = super().file_response(*args, **kwargs)
        resp.headers["Cache-Control"] = "public, max-age=3600"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp


def install(app: FastAPI, settings: QuerySettings) -> None:
    app.state.web_session_ttl_s = settings.session_ttl_s

    async def _page_error(request: Request, exc: PageError):
        try:
            session = await current(request)
        except PageError:
            session = None
        return page(request, "error.html", exc.status, session=session, title=exc.title, message=exc.message)

    async def _sign_in(_: Request, exc: SignInRequired):
        return RedirectResponse(url("/sign-in", {"next": exc.next_path}), 303, headers={"Cache-Control": "no-store"})

    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.mount("/static", _Static(directory=HERE / "static"), name="web-static")
    app.include_router(actions.router)
    app.include_router(pages.router)
