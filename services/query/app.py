"""Query service composition: ``install`` adds it to any FastAPI app (the combined API process);
``create_app`` builds it standalone. Nothing connects at import time."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request

from services.common.http import chain_lifespan, install_error_handlers, json_response
from services.query.core.params import InvalidQuery, NotFound
from services.query.live import UNAVAILABLE, LiveRuns
from services.query.routes import router
from services.query.service import QueryService
from services.query.settings import QuerySettings
from services.query.store import Store
from services.query.web.install import install as install_web

log = logging.getLogger("invarium.query")


def install(app: FastAPI, settings: QuerySettings) -> None:
    """Add the query routes to ``app``; their state lives on ``app.state.query``."""

    @asynccontextmanager
    async def lifespan(a: FastAPI):
        client = aioredis.from_url(settings.redis_url, socket_timeout=30, health_check_interval=30)
        store = Store(settings.data_dir, threads=settings.query_threads, memory_limit=settings.query_memory_limit,
                      refresh_s=settings.query_refresh_s)  # fmt: skip
        live = LiveRuns(client, settings.stream_partitions, cache_s=settings.query_deleted_cache_s)
        a.state.query = QueryService(store, live, settings.public_base_url)
        try:
            yield
        finally:
            await client.aclose()
            store.close()

    async def _invalid(_: Request, exc: InvalidQuery):
        return json_response({"detail": str(exc)}, 400)

    async def _not_found(_: Request, exc: NotFound):
        return json_response({"detail": str(exc)}, 404)

    app.add_exception_handler(InvalidQuery, _invalid)
    app.add_exception_handler(NotFound, _not_found)
    if aioredis.RedisError not in app.exception_handlers:

        async def _redis_down(_: Request, exc: aioredis.RedisError):
            log.error("run state unavailable: %s", type(exc).__name__)
            return json_response({"detail": UNAVAILABLE}, 503, {"Retry-After": "2"})

        app.add_exception_handler(aioredis.RedisError, _redis_down)
    app.include_router(router)
    chain_lifespan(app, lifespan)
    install_web(app, settings)  # the dashboard: pages over the same QueryService


def create_app(settings: QuerySettings | None = None) -> FastAPI:
    """The query service on its own (docker-compose runs it this way)."""
    settings = settings or QuerySettings()
    keyring = settings.required_keyring()
    app = FastAPI(title="Invarium query", version="1",
                  summary="Runs, results, comparisons and exports of behavioural test runs of AI agents.")  # fmt: skip
    app.state.keyring = keyring
    install_error_handlers(app)
    install(app, settings)
    # docker-compose routes /mcp here; INVARIUM_MCP_REST_URL (the gateway) lets its tools reach
    # the ingest routes too. Imported here: the MCP layer depends on the query service, not back.
    from services.mcp.http import install as install_mcp

    install_mcp(app, settings)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
