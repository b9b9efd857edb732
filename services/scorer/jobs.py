"""Runs queued re-score jobs (one at a time across all workers) and reports their progress."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

import orjson
import redis

from services.common import jobs
from services.common.locks import lease_sync
from services.scorer.replay import Progress, Rescorer, Selection
from services.scorer.settings import ScorerSettings
from services.scorer.tables import Tables

log = logging.getLogger("invarium.scorer.rescore")


def selection_of(raw: str) -> Selection:
    s = orjson.loads(raw or "{}")
    parse = lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None  # noqa: E731
    return Selection(agent=s.get("agent_name"), runs=tuple(s.get("test_run_ids") or ()),
                     since=parse(s.get("since")), until=parse(s.get("until")))  # fmt: skip


def run_job(settings: ScorerSettings, job_id: str, workers: int | None = None) -> None:
    """Blocking: run one job, writing progress to its Redis hash at most every 0.5 s."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    key = jobs.job_key(job_id)
    last = 0.0

    def report(p: Progress) -> None:
        nonlocal last
        if time.monotonic() - last >= 0.5 or p.phase == "done":
            last = time.monotonic()
            client.hset(key, mapping={"phase": p.phase, "total": p.total, "done": p.done, "runs": p.runs,
                                      "generation": p.generation})  # fmt: skip

    with lease_sync(client, jobs.LOCK):
        client.hset(key, mapping={"status": "running", "started_at": jobs.now()})
        try:
            sel = selection_of((client.hget(key, "selection") or b"{}").decode())
            Rescorer(Tables(settings.data_dir), client, settings.stream_partitions, workers=workers,
                     on_progress=report).run(sel)  # fmt: skip
            client.hset(key, mapping={"status": "done", "finished_at": jobs.now()})
        except Exception as exc:  # noqa: BLE001 - the job fails, the worker goes on
            log.exception("re-score %s failed", job_id)
            client.hset(key, mapping={"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000],
                                      "finished_at": jobs.now()})  # fmt: skip
        finally:
            client.close()


async def poll_jobs(settings: ScorerSettings, client, interval_s: float = 1.0) -> None:
    """Background task of every worker: take the next queued job, if any, and run it."""
    while True:
        try:
            job_id = await client.rpop(jobs.QUEUE)
            if job_id:
                await asyncio.to_thread(run_job, settings, job_id.decode())
                continue
        except Exception:  # noqa: BLE001 - keep polling
            log.exception("re-score queue poll failed")
        await asyncio.sleep(interval_s)
