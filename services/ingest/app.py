"""Ingest service composition: settings in, FastAPI app out. Nothing connects at import time."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, Request

from schemas.wire import SyncRequest, AppendResultsRequest, CreateRunRequest
from services.common.http import install_error_handlers, json_response
from services.ingest.eventlog import EventLog
from services.ingest.routes import router
from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings

log = logging.getLogger("invarium.ingest")


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    keyring = settings.required_keyring()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        client = aioredis.from_url(settings.redis_url, socket_timeout=30, health_check_interval=30)
        event_log = EventLog(
            client,
            partitions=settings.stream_partitions,
            group=settings.scorer_group,
            idempotency_ttl_s=settings.idempotency_ttl_s,
            retention_s=settings.dedupe_retention_s,
        )
        app.state.ingest = IngestService(event_log, settings)
        app.state.redis = client
        try:
            yield
        finally:
            await client.aclose()

    app = FastAPI(
        title="Invarium ingest",
        version="1",
        summary="Sync behavioural test results of AI agents into the event log.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.keyring = keyring
    install_error_handlers(app)

    @app.exception_handler(aioredis.RedisError)
    async def _redis_down(_: Request, exc: aioredis.RedisError):
        log.error("event log unavailable: %s", type(exc).__name__)
        return json_response(
            {"detail": "Event log unavailable (Redis): nothing was written; retry with the same Idempotency-Key"},
            503,
            {"Retry-After": "2"},
        )

    app.include_router(router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    _document_bodies(app)
    return app


def _document_bodies(app: FastAPI) -> None:
    """Routes read raw bytes for speed; publish the request models in the OpenAPI schema anyway."""
    original = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (SyncRequest, AppendResultsRequest, CreateRunRequest):
            defs = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in defs.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components[model.__name__] = defs
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
