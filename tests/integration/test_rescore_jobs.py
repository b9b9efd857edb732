"""Re-score jobs survive the worker that took them (real redis-server)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from services.common import jobs
from services.scorer.jobs import next_job, run_job
from services.scorer.settings import ScorerSettings

pytestmark = pytest.mark.integration


async def test_a_job_left_active_by_a_dead_worker_is_taken_again(redis_url, rclient):
    client = aioredis.from_url(redis_url)
    try:
        rclient.lpush(jobs.QUEUE, "rs_1", "rs_2")
        assert await next_job(client) == b"rs_1"  # FIFO, and now listed as active
        assert rclient.lrange(jobs.ACTIVE, 0, -1) == [b"rs_1"]
        rclient.set(jobs.LOCK, "alive-worker", px=10_000)  # its worker runs it: not an orphan
        assert await next_job(client) == b"rs_2"
        rclient.delete(jobs.LOCK)  # the lease expired: whoever took rs_1 and rs_2 is gone
        assert await next_job(client) == b"rs_1"
    finally:
        await client.aclose()


def test_a_finished_job_is_not_run_again_and_leaves_the_active_list(redis_url, rclient, tmp_path):
    rclient.hset(jobs.job_key("rs_9"), mapping={"status": "done", "selection": "{}"})
    rclient.lpush(jobs.ACTIVE, "rs_9")
    run_job(ScorerSettings(redis_url=redis_url, data_dir=tmp_path, api_keys=""), "rs_9")
    assert rclient.lrange(jobs.ACTIVE, 0, -1) == [] and rclient.hget(jobs.job_key("rs_9"), "status") == b"done"
