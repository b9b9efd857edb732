"""Query service latency at 10M results vs the same queries in raw DuckDB on the same files.

    make bench-query      # or: .venv/bin/python -m bench.query [--n 300] [--runs 10000] [--per-run 1000]

Builds (once, then reuses) a store of 10,000 runs x 1,000 results in the scorer's table format
(``bench.query_store``), starts ``python -m services.query`` on it, and measures p50/p99 over
HTTP (httpx, keep-alive, one request at a time) for: runs list with filters, run detail page
with a status filter, a deep page (page 400 of the runs list, by page and by cursor), case
detail, compare of two 1,000-case runs. In the same run it times the equivalent raw DuckDB
query (in-memory DuckDB over read_parquet of the same file list) and prints both, the ratio
of p50s, and the query process's peak RSS. Targets: p50 <= 2x raw, p99 <= 100 ms, RSS <= 1 GiB.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx
from deltalake import DeltaTable

from bench._common import peak_rss_mib, start_redis, start_service, workdir
from bench.query_store import default_dir, ensure
from services.common.delta import local_files

KEY = "bench-query-key-0123456789"
LATEST = "(SELECT * FROM read_parquet({stats}) QUALIFY row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1)"
RAW_RUNS = """
SELECT s.agent, s.run, e.created, s.total, s.passed, s.failed, s.errors, s.bss, s.aqs, e.source
FROM {latest} s JOIN (SELECT agent, run, min("at") AS created, any_value(source) AS source FROM read_parquet({events})
                      WHERE type = 'RunCreated' GROUP BY agent, run) e USING (agent, run)
WHERE {where} ORDER BY e.created DESC, s.agent, s.run LIMIT 20 OFFSET {offset}
"""
RAW_DETAIL = """SELECT result_id, scenario_id, description, complexity, target_failure, status, severity, failure_category,
failure_subtype, reason, user_message, tool_sequence FROM read_parquet({files})
WHERE agent = '{a}' AND run = '{r}' AND status = 'failed' ORDER BY result_id LIMIT 20"""
RAW_CASE = "SELECT * FROM read_parquet({files}) WHERE agent = '{a}' AND run = '{r}' AND result_id = '{c}'"
RAW_COMPARE = """
WITH b AS (SELECT scenario_id, status, failure_category FROM read_parquet({files}) WHERE agent = '{a}' AND run = '{b}'),
     h AS (SELECT scenario_id, status, failure_category, severity, reason FROM read_parquet({files}) WHERE agent = '{a}' AND run = '{h}')
SELECT coalesce(b.scenario_id, h.scenario_id) AS scenario_id, b.status, h.status, h.failure_category, h.severity, h.reason
FROM b FULL OUTER JOIN h ON b.scenario_id = h.scenario_id
WHERE b.status IS DISTINCT FROM h.status
"""


def timed(fn: Callable[[], object], n: int, warm: int = 10) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="timed requests per case")
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--per-run", type=int, default=1_000)
    ap.add_argument("--dir", type=Path, default=None, help="store directory (default: data/bench-query[-arrival])")
    ap.add_argument("--layout", choices=("sorted", "arrival"), default="sorted",
                    help="sorted: runs in id order per agent; arrival: as the write path leaves them (sync order)")
    args = ap.parse_args()
    root = ensure(args.dir or Path(f"{default_dir()}{'' if args.layout == 'sorted' else '-' + args.layout}"),
                  args.runs, args.per_run, args.layout)
    gen = root / "tables" / (root / "tables" / "CURRENT").read_text().strip()
    results = local_files(DeltaTable(str(gen / "results")))
    stats = local_files(DeltaTable(str(gen / "run_stats")))
    events = local_files(DeltaTable(str(gen / "run_events")))

    # the raw baseline gets the same footer cache as the service, so the ratio is about the service
    raw = duckdb.connect(config={"threads": 2})
    raw.execute("SET GLOBAL parquet_metadata_cache = true")
    pairs = raw.sql(f"SELECT agent, run FROM read_parquet({stats!r}) ORDER BY agent, run").fetchall()
    rng = random.Random(1)
    sample = rng.sample(pairs, 64)
    by_agent: dict[str, list[str]] = {}
    for a, r in pairs:
        by_agent.setdefault(a, []).append(r)
    agents = sorted(by_agent)
    since = raw.sql(f"SELECT strftime(max(\"at\") - INTERVAL 30 DAY, '%Y-%m-%dT%H:%M:%SZ') FROM read_parquet({events!r})").fetchall()[0][0]

    tmp = workdir()
    redis_proc, redis_url = start_redis(tmp)
    env = {"REDIS_URL": redis_url, "INVARIUM_API_KEYS": f"{KEY}:viewer", "INVARIUM_DATA_DIR": str(root)}
    proc, url = start_service("services.query", env, tmp / "query.log")
    client = httpx.Client(base_url=f"{url}/v1", headers={"X-API-Key": KEY}, timeout=30)
    it = iter(range(10**9))

    def get(path: str, **params) -> dict:
        resp = client.get(path, params=params)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        return resp.json() if resp.headers["content-type"].startswith("application/json") else {}

    def pick():
        return sample[next(it) % len(sample)]

    # the cursor of page 400, found once by walking the list
    cursor, page = None, 1
    while page < 400:
        cursor = get("/test-runs", limit=20, cursor=cursor)["next_cursor"] if cursor else get("/test-runs", limit=20)["next_cursor"]
        page += 1
    assert get("/test-runs", limit=20, page=400)["runs"] == get("/test-runs", limit=20, cursor=cursor)["runs"]
    compare_pairs = [(a, by_agent[a][i], by_agent[a][i + 1]) for a in agents for i in range(0, 10, 2)]

    def f(s: str) -> str:
        return repr(s)

    latest = LATEST.format(stats=f(stats))
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        ("runs list (agent + 30d + has_failures)",
         lambda: get("/test-runs", agent=agents[next(it) % len(agents)], since=since, status="has_failures", limit=20),
         lambda: raw.sql(RAW_RUNS.format(latest=latest, events=f(events), offset=0,
                                         where=f"s.agent = '{agents[next(it) % len(agents)]}' AND e.created >= '{since}' "
                                               "AND s.failed + s.errors > 0")).to_arrow_table()),
        ("run detail page (status=failed)",
         lambda: get(f"/agents/{(p := pick())[0]}/test-runs/{p[1]}", status="failed", limit=20),
         lambda: raw.sql(RAW_DETAIL.format(files=f(results), a=(p := pick())[0], r=p[1])).to_arrow_table()),
        ("deep page: runs list page 400",
         lambda: get("/test-runs", limit=20, page=400),
         lambda: raw.sql(RAW_RUNS.format(latest=latest, events=f(events), where="true", offset=399 * 20)).to_arrow_table()),
        ("deep page: runs list by cursor",
         lambda: get("/test-runs", limit=20, cursor=cursor),
         lambda: raw.sql(RAW_RUNS.format(latest=latest, events=f(events), where="true", offset=399 * 20)).to_arrow_table()),
        ("case detail",
         lambda: get(f"/agents/{(p := pick())[0]}/test-runs/{p[1]}/results/case-{next(it) % args.per_run:04d}"),
         lambda: raw.sql(RAW_CASE.format(files=f(results), a=(p := pick())[0], r=p[1], c=f"case-{next(it) % args.per_run:04d}")).to_arrow_table()),
        ("compare two 1,000-case runs",
         lambda: get(f"/agents/{(c := compare_pairs[next(it) % len(compare_pairs)])[0]}/compare", base=c[1], head=c[2]),
         lambda: raw.sql(RAW_COMPARE.format(files=f(results), a=(c := compare_pairs[next(it) % len(compare_pairs)])[0],
                                            b=c[1], h=c[2])).to_arrow_table()),
    ]  # fmt: skip
    print(f"\n{args.runs:,} runs x {args.per_run:,} results = {args.runs * args.per_run:,} results; "
          f"{len(results)} results files; {args.n} timed requests per case\n")  # fmt: skip
    print(f"{'case':42s} {'HTTP p50':>9s} {'p99':>8s} {'raw p50':>8s} {'raw p99':>8s} {'p50/raw':>8s}")
    ok = True
    try:
        for name, http_fn, raw_fn in cases:
            h = timed(http_fn, args.n)
            r = timed(raw_fn, max(30, args.n // 3), warm=3)
            ratio = statistics.median(h) / statistics.median(r)
            ok &= ratio <= 2 and pct(h, 99) <= 100
            print(f"{name:42s} {statistics.median(h):7.1f}ms {pct(h, 99):6.1f}ms {statistics.median(r):6.1f}ms "
                  f"{pct(r, 99):6.1f}ms {ratio:7.2f}x", flush=True)  # fmt: skip
        rss = peak_rss_mib(proc.pid)
        ok &= rss <= 1024
        print(f"\nquery process peak RSS: {rss:.0f} MiB")
        print("targets (p50 <= 2x raw, p99 <= 100 ms, RSS <= 1 GiB):", "met" if ok else "NOT met")
    finally:
        client.close()
        proc.terminate()
        proc.wait(15)
        redis_proc.terminate()
        redis_proc.wait(10)


if __name__ == "__main__":
    main()
