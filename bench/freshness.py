"""The freshness benchmark of ``bench.score`` (``--only freshness``): the API process takes
5,000 results/s in syncs of 100 for 60 s while a scorer worker scores them; the time from a sync's
answer to its run showing up in the run stats (a reader of the Delta snapshots), in the results
rows and in ``GET /v1/test-runs`` over HTTP, p50 and p99 (target p99 <= 1 s).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import orjson
from deltalake import DeltaTable

from bench._common import start_redis, start_service, workdir
from bench.score import KEY, make_batch, scorer_env
from services.common.delta import local_files
from services.scorer.tables import Tables


def bench_freshness(rate: int, seconds: int, per_sync: int) -> None:
    wd = workdir()
    rproc, rurl = start_redis(wd)
    env = scorer_env(rurl, wd, INVARIUM_MAX_BACKLOG="100000000", INVARIUM_DEBUG="1")
    # the API process of `make up` (ingest + query): so the read side is also measured as users see it
    ingest, url = start_service("services.api", env, wd / "api.log")
    scorer = subprocess.Popen([sys.executable, "-m", "services.scorer"], env=os.environ | env,
                              stdout=(wd / "scorer.log").open("ab"), stderr=subprocess.STDOUT)  # fmt: skip
    accepted: dict[str, float] = {}
    visible: dict[str, float] = {}
    in_results: dict[str, float] = {}
    in_api: dict[str, float] = {}
    stop = threading.Event()
    tables = Tables(wd)

    def watch() -> None:  # a reader of the Delta snapshots, polled
        # Each poll reads only the files it has not read yet (a run's first rows can only be in a
        # new file): the instrument must not eat the CPU of what it measures, as a full scan of
        # every file every 100 ms did (O(table) per poll on a 2-core machine).
        # It also follows each table's log incrementally (like the query service) instead of
        # loading the whole table anew at every poll.
        con = duckdb.connect(config={"threads": 1})
        scanned: dict[str, set[str]] = {"run_stats": set(), "results": set()}
        handles: dict[str, DeltaTable] = {}
        while not stop.is_set():
            for table, seen_at in (("run_stats", visible), ("results", in_results)):
                dt = handles.get(table)
                if dt is None:
                    dt = tables.current().table(table)
                    if dt is None:
                        continue
                    handles[table] = dt
                else:
                    dt.update_incremental()
                snapshot = local_files(dt)
                new = [f for f in snapshot if f not in scanned[table]]
                if new:
                    now = time.perf_counter()
                    for (run,) in con.execute("SELECT DISTINCT run FROM read_parquet($files)", {"files": new}).fetchall():
                        seen_at.setdefault(run, now)
                    scanned[table].update(new)
            time.sleep(0.1)
        con.close()

    def watch_api() -> None:  # a user: the runs list over HTTP (GET /v1/test-runs), newest first
        with httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=10) as http:
            while not stop.is_set():
                runs = http.get("/v1/test-runs", params={"limit": 100}).json()["runs"]
                now = time.perf_counter()
                for row in runs:
                    in_api.setdefault(row["test_run_id"], now)
                time.sleep(0.1)

    async def load() -> None:
        bodies = [orjson.dumps({"agent_name": "fresh", "test_run_id": None, "results": make_batch(per_sync, seed=s)})
                  for s in range(8)]  # fmt: skip
        interval = per_sync / rate
        async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY, "Content-Type": "application/json"},
                                     timeout=30) as http:  # fmt: skip
            start = time.perf_counter()
            tasks = []
            k = 0
            while time.perf_counter() - start < seconds:
                target = start + k * interval
                await asyncio.sleep(max(0.0, target - time.perf_counter()))
                tasks.append(asyncio.create_task(send(http, bodies[k % len(bodies)])))
                k += 1
            await asyncio.gather(*tasks)

    async def send(http: httpx.AsyncClient, body: bytes) -> None:
        resp = await http.post("/v1/test-runs/sync", content=body)
        resp.raise_for_status()
        accepted[resp.json()["test_run_id"]] = time.perf_counter()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    api_watcher = threading.Thread(target=watch_api, daemon=True)
    api_watcher.start()
    try:
        warm_up(url, visible)
        asyncio.run(load())
        deadline = time.perf_counter() + 30
        while len(visible.keys() & accepted.keys()) < len(accepted) and time.perf_counter() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        watcher.join()
        api_watcher.join()
        for p in (scorer, ingest):
            p.terminate()
            p.wait(30)
        rproc.terminate()
    lags = sorted(visible[r] - t for r, t in accepted.items() if r in visible)
    result_lags = sorted(in_results[r] - t for r, t in accepted.items() if r in in_results)
    missing = len(accepted) - len(lags)
    p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] if lags else float("nan")  # noqa: E731
    print(f"freshness: {rate:,} results/s for {seconds}s ({len(accepted):,} syncs of {per_sync}), "
          f"sync accepted -> visible in run stats (reader polls every 100 ms)")
    print(f"  p50 {p(0.50) * 1000:,.0f} ms   p99 {p(0.99) * 1000:,.0f} ms   max {lags[-1] * 1000 if lags else 0:,.0f} ms"
          f"   never visible: {missing}   (target p99 <= 1,000 ms)")
    if result_lags:
        q = lambda x: result_lags[min(len(result_lags) - 1, int(x * len(result_lags)))]  # noqa: E731
        print(f"  results rows visible (run detail): p50 {q(0.5) * 1000:,.0f} ms   p99 {q(0.99) * 1000:,.0f} ms")
    api_lags = sorted(in_api[r] - t for r, t in accepted.items() if r in in_api)
    if api_lags:
        a = lambda x: api_lags[min(len(api_lags) - 1, int(x * len(api_lags)))]  # noqa: E731
        print(f"  in the runs list over HTTP (query service, polled every 100 ms): p50 {a(0.5) * 1000:,.0f} ms   "
              f"p99 {a(0.99) * 1000:,.0f} ms   never: {len(accepted) - len(api_lags)}")
    commits = [line.split("committed ")[1].split() for line in (wd / "scorer.log").read_text().splitlines()
               if "committed " in line]  # "<n> entries in <ms> ms"
    if commits:
        sizes, ms = sorted(int(c[0]) for c in commits), sorted(float(c[3]) for c in commits)
        print(f"  scorer commits: {len(sizes)}, median batch {sizes[len(sizes) // 2]} entries, "
              f"commit time p50 {ms[len(ms) // 2]:.0f} ms, max {ms[-1]:.0f} ms")
    stats_ms = sorted(float(line.split("refreshed stats of ")[1].split()[3]) for line in
                      (wd / "scorer.log").read_text().splitlines() if "refreshed stats of " in line)
    if stats_ms:
        print(f"  stats refreshes: {len(stats_ms)}, p50 {stats_ms[len(stats_ms) // 2]:.0f} ms, max {stats_ms[-1]:.0f} ms")
    if KEEP_LOGS:
        for name in ("scorer.log", "api.log"):
            shutil.copy(wd / name, Path(KEEP_LOGS) / name)
    shutil.rmtree(wd, ignore_errors=True)


KEEP_LOGS = os.environ.get("BENCH_KEEP_LOGS", "")  # a folder: the freshness run's service logs are copied there


def warm_up(url: str, visible: dict[str, float]) -> None:
    """One sync, scored and visible, before the measured load: a worker of a running system has
    its tables, handles and code paths warm; the one just started on an empty data directory
    creates the tables in its first commits (~1 s here), which is not what a steady load sees."""
    body = {"agent_name": "warm-up", "test_run_id": None, "results": make_batch(100, seed=99)}
    run = httpx.post(f"{url}/v1/test-runs/sync", json=body, headers={"X-API-Key": KEY}, timeout=30).json()["test_run_id"]
    deadline = time.perf_counter() + 60
    while run not in visible:
        if time.perf_counter() > deadline:
            sys.exit("warm-up: the scorer did not score a sync within 60 s")
        time.sleep(0.05)
    time.sleep(1.0)
