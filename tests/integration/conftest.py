from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from services.ingest.app import create_app
from services.scorer.consumer import Group
from services.scorer.core.pricing import default_price_table
from services.scorer.settings import ScorerSettings
from services.scorer.tables import Tables
from services.scorer.worker import Scorer
from services.ingest.settings import IngestSettings
from tests.conftest import API_KEYS, MEMBER_KEY


@pytest.fixture
def ingest_settings(redis_url: str, tmp_path: Path) -> Callable[..., IngestSettings]:
    def make(**overrides) -> IngestSettings:
        values = {"redis_url": redis_url, "api_keys": API_KEYS, "data_dir": tmp_path, "base_url": "http://testserver"}
        values.update(overrides)
        return IngestSettings(**values)

    return make


@pytest.fixture
async def make_client(ingest_settings) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Factory of in-process HTTP clients for the ingest app (lifespan run, real Redis)."""
    stack = []

    async def make(key: str | None = MEMBER_KEY, **overrides) -> httpx.AsyncClient:
        app = create_app(ingest_settings(**overrides))
        ctx = app.router.lifespan_context(app)
        await ctx.__aenter__()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=headers)
        stack.append((client, ctx))
        return client

    yield make
    for client, ctx in reversed(stack):
        await client.aclose()
        await ctx.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client) -> httpx.AsyncClient:
    return await make_client()


@pytest.fixture
async def scorer_factory(redis_url, tmp_path: Path):
    """Factory of in-process scorers sharing one data directory and the real Redis."""
    clients = []

    async def make(**overrides) -> Scorer:
        settings = ScorerSettings(redis_url=redis_url, data_dir=tmp_path, api_keys="", **overrides)
        client = aioredis.from_url(redis_url)
        clients.append(client)
        group = Group(client, settings.stream_partitions, settings.scorer_group)
        await group.ensure()
        return Scorer(settings, group, Tables(tmp_path), default_price_table())

    yield make
    for c in clients:
        await c.aclose()
