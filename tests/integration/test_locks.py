"""Leases on a real redis-server: renewed while held, gone soon after a holder dies."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis

from services.common.locks import lease, lease_sync

pytestmark = pytest.mark.integration


async def test_a_lease_outlives_its_ttl_while_held_and_frees_when_released(redis_url):
    client = aioredis.from_url(redis_url)
    try:
        async with lease(client, "t:lease", ttl=0.3) as held:
            assert held
            await asyncio.sleep(0.8)  # well past the ttl: renewed
            async with lease(client, "t:lease", ttl=0.3, blocking=False) as other:
                assert not other
        async with lease(client, "t:lease", ttl=0.3, blocking=False) as again:
            assert again
    finally:
        await client.aclose()


async def test_a_dead_holders_lease_expires_after_its_ttl(redis_url):
    client = aioredis.from_url(redis_url)
    try:
        await client.set("t:dead", "someone-killed", px=300)  # what a SIGKILLed holder leaves behind
        async with lease(client, "t:dead", ttl=0.3, blocking_timeout=2) as held:
            assert held
    finally:
        await client.aclose()


def test_the_blocking_lease_is_renewed_from_its_thread(redis_url):
    client = redis.Redis.from_url(redis_url)
    with lease_sync(client, "t:sync", ttl=0.3):
        import time

        time.sleep(0.8)
        assert client.exists("t:sync")
    assert not client.exists("t:sync")
