from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from services.ingest.app import create_app
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
