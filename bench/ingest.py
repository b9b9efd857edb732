"""Ingest throughput: HTTP sync of 1,000-result batches vs raw pipelined XADD, same payloads.

    make bench-ingest          # or: .venv/bin/python -m bench.ingest --batches 80 --concurrency 2

Both sides write to the same private redis-server (no persistence, like the raw baseline in
STACK-NOTES). The raw side XADDs exactly the event bytes the ingest service wrote, 1,000
per pipeline, from one redis-py client.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

import httpx
import orjson
import redis

from bench._common import peak_rss_mib, start_redis, start_service, workdir
from services.common import streams

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import make_batch  # noqa: E402

KEY = "bench-ingest-key-0123456789:member"


async def drive_http(url: str, bodies: list[bytes], batches: int, concurrency: int) -> tuple[float, int]:
    headers = {"X-API-Key": KEY.split(":")[0], "Content-Type": "application/json"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(batches):
        queue.put_nowait(i)
    accepted = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            resp = await client.post("/v1/test-runs/sync", content=bodies[i % len(bodies)], headers=headers)
            resp.raise_for_status()
            accepted += resp.json()["accepted"]

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await client.post("/v1/test-runs/sync", content=bodies[0], headers=headers)  # warm-up
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return elapsed, accepted


def raw_xadd(client: redis.Redis, payloads: list[bytes], per_pipeline: int = 1000) -> float:
    key = "bench:raw"
    client.delete(key)
    t0 = time.perf_counter()
    for i in range(0, len(payloads), per_pipeline):
        pipe = client.pipeline(transaction=False)
        for data in payloads[i : i + per_pipeline]:
            pipe.xadd(key, {"__data__": data})
        pipe.execute()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=150, help="1,000-result syncs to send")
    ap.add_argument("--concurrency", type=int, default=4, help="syncs in flight (CI shards sync in parallel)")
    args = ap.parse_args()

    wd = workdir()
    rproc, rurl = start_redis(wd)
    env = {"REDIS_URL": rurl, "INVARIUM_API_KEYS": KEY, "INVARIUM_DATA_DIR": str(wd), "INVARIUM_MAX_BACKLOG": "100000000"}
    sproc, url = start_service("services.ingest", env, wd / "ingest.log")
    try:
        bodies = [
            orjson.dumps({"agent_name": f"bench-agent-{k}", "source": "ci", "results": make_batch(1000, seed=k)})
            for k in range(4)
        ]
        size = sum(map(len, bodies)) / len(bodies) / 1000
        elapsed, accepted = asyncio.run(drive_http(url, bodies, args.batches, args.concurrency))
        http_rate = accepted / elapsed
        rss = peak_rss_mib(sproc.pid)

        client = redis.Redis.from_url(rurl)
        logged = (f[b"__data__"] for _, f in client.xrange(streams.stream_key(0)))
        payloads = [p for p in logged if b'"ResultsSynced"' in p][:accepted]
        raw_elapsed = min(raw_xadd(client, payloads) for _ in range(3))  # best of 3: the strictest baseline
        raw_rate = len(payloads) / raw_elapsed

        print(f"ingest bench: {args.batches} syncs x 1,000 results (~{size / 1000:.1f} KB/result), concurrency {args.concurrency}")
        print(f"  HTTP sync (validate+redact+XADD): {http_rate:>10,.0f} results/s  ({accepted:,} in {elapsed:.2f}s)")
        print(f"  raw redis-py pipelined XADD:      {raw_rate:>10,.0f} results/s  ({len(payloads):,} in {raw_elapsed:.2f}s, best of 3)")
        print(f"  ratio ingest/raw:                 {http_rate / raw_rate:>10.2f}   (target >= 0.50)")
        print(f"  ingest process peak RSS:          {rss:>10.1f} MiB")
    finally:
        sproc.terminate()
        sproc.wait(15)
        rproc.terminate()
        rproc.wait(15)
        shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":
    main()
