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
        if (client.hget(key, "status") or b"").decode() in ("done", "failed"):
            client.lrem(jobs.ACTIVE, 0, job_id)  # another worker recovered and finished it meanwhile
            client.close()
            return
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
            client.lrem(jobs.ACTIVE, 0, job_id)
            client.close()


async def next_job(client) -> bytes | None:
    """A job a dead worker left unfinished (listed as active while nobody holds the job lease),
    else the next queued one, moved to the active list in the same command. Running a job twice
    is harmless: a re-score changes nothing until it switches, and ``run_job`` skips finished ones."""
    if not await client.exists(jobs.LOCK):
        orphans = await client.lrange(jobs.ACTIVE, -1, -1)
        if orphans:
            log.warning("recovering re-score job %s left unfinished by a stopped worker", orphans[0].decode())
            return orphans[0]
    return await client.lmove(jobs.QUEUE, jobs.ACTIVE, "RIGHT", "LEFT")


async def poll_jobs(settings: ScorerSettings, client, stopping: asyncio.Event | None = None,
                    interval_s: float = 1.0) -> None:  # fmt: skip
    """Background task of every worker: take the next queued job, if any, and run it (until ``stopping``)."""
    while stopping is None or not stopping.is_set():
        try:
            job_id = await next_job(client)
            if job_id:
                await asyncio.to_thread(run_job, settings, job_id.decode())
                continue
        except Exception:  # noqa: BLE001 - keep polling
            log.exception("re-score queue poll failed")
        await asyncio.sleep(interval_s)
