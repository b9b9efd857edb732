"""Re-score jobs in Redis: the HTTP side queues them, a scorer worker runs them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import orjson

from services.common.streams import PREFIX

QUEUE = f"{PREFIX}:rescore:queue"
ACTIVE = f"{PREFIX}:rescore:active"  # taken off the queue, not finished: recovered if its worker dies
LOCK = f"{PREFIX}:rescore:lock"
JOB_TTL_S = 7 * 24 * 3600


def job_key(job_id: str) -> str:
    return f"{PREFIX}:rescore:job:{job_id}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_job(selection: dict[str, Any]) -> tuple[str, dict[str, str]]:
    job_id = f"rs_{secrets.token_hex(8)}"
    return job_id, {"status": "queued", "selection": orjson.dumps(selection).decode(), "created_at": now()}


def decode(fields: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in fields.items()}


def view(fields: dict[str, str]) -> dict[str, Any]:
    """A job's fields as the values of its answer (``RescoreJob``), with the defaults of a job
    no worker has taken yet: the REST route and the dashboard show the same."""
    return {"status": fields.get("status", "queued"), "phase": fields.get("phase", ""),
            "total": int(fields.get("total", 0)), "done": int(fields.get("done", 0)),
            "runs": int(fields.get("runs", 0)), "generation": fields.get("generation", ""),
            "error": fields.get("error") or None, "created_at": fields.get("created_at", ""),
            "finished_at": fields.get("finished_at") or None}  # fmt: skip


async def enqueue(client, selection: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Queue a re-score job for ``selection`` (a validated ``RescoreRequest`` as JSON): the one
    way jobs are started, by the REST route and the dashboard alike."""
    job_id, fields = new_job(selection)
    pipe = client.pipeline(transaction=True)
    pipe.hset(job_key(job_id), mapping=fields)
    pipe.expire(job_key(job_id), JOB_TTL_S)
    pipe.lpush(QUEUE, job_id)
    await pipe.execute()
    return job_id, fields


async def read(client, job_id: str) -> dict[str, str] | None:
    """A job's fields, or None when there is no such job (or it expired)."""
    fields = await client.hgetall(job_key(job_id))
    return decode(fields) if fields else None
