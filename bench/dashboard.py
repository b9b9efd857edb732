"""Dashboard page latency at 10M results vs the same reads through the JSON REST routes.

    make bench-dashboard  # or: .venv/bin/python -m bench.dashboard [--n 100] [--runs 10000] [--per-run 1000]

Builds (once, then reuses) the store of ``bench.query`` (10,000 runs x 1,000 results,
``bench.query_store``), starts ``python -m services.query`` on it, signs in once as a browser
does (sign-in form, then the session cookie) and measures p50/p99 over HTTP (httpx, keep-alive,
one request at a time) of both the client's wall time and the page's own ``Server-Timing: app``
(auth dependency to rendered HTML) for: the runs list (plain, filtered by status and source,
by agent, and the page reached after following "Next page" 10 times), a 1,000-case run's page
(plain, status=failed, limit=100), case detail, compare of two runs, agents. In the same run it
times the matching ``/v1`` REST route (same filters and page size) and prints the ratio of wall
p50s: what rendering the page costs on top of the read. Target: every page's p99 server time
under 300 ms; the query process's peak RSS is printed too.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import duckdb
import httpx
from deltalake import DeltaTable

from bench._common import peak_rss_mib, start_redis, start_service, workdir
from bench.query import KEY, pct
from bench.query_store import default_dir, ensure
from services.common.delta import local_files

TARGET_MS = 300
NEXT = re.compile(r'rel="next" href="([^"]+)"')
IDS = re.compile(r"agent-\d+|tr_[0-9a-f]+|case-\d+")


def v1(page_path: str) -> str:
    """The REST path of a page's read: ``/agent/a/...`` is ``/v1/agents/a/...``."""
    return page_path.replace("/agent/", "/agents/", 1)


def timed(fn: Callable[[], float | None], n: int, warm: int = 10) -> tuple[list[float], list[float]]:
    """Wall times of ``n`` calls (after ``warm``), and the server times the calls returned."""
    for _ in range(warm):
        fn()
    wall, server = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        dur = fn()
        wall.append((time.perf_counter() - t0) * 1000)
        if dur is not None:
            server.append(dur)
    return wall, server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="timed requests per case")
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--per-run", type=int, default=1_000)
    args = ap.parse_args()
    root = ensure(default_dir(), args.runs, args.per_run)
    gen = root / "tables" / (root / "tables" / "CURRENT").read_text().strip()
    stats = local_files(DeltaTable(str(gen / "run_stats")))
    pairs = duckdb.sql(f"SELECT agent, run FROM read_parquet({stats!r}) ORDER BY agent, run").fetchall()
    sample = random.Random(1).sample(pairs, 64)
    by_agent: dict[str, list[str]] = {}
    for a, r in pairs:
        by_agent.setdefault(a, []).append(r)
    agents = sorted(by_agent)
    compare_pairs = [(a, by_agent[a][i], by_agent[a][i + 1]) for a in agents for i in range(0, 10, 2)]

    tmp = workdir()
    redis_proc, redis_url = start_redis(tmp)
    env = {"REDIS_URL": redis_url, "INVARIUM_API_KEYS": f"{KEY}:admin", "INVARIUM_DATA_DIR": str(root)}
    proc, url = start_service("services.query", env, tmp / "query.log")
    web = httpx.Client(base_url=url, timeout=30, follow_redirects=False)  # keeps the cookies
    api = httpx.Client(base_url=f"{url}/v1", headers={"X-API-Key": KEY}, timeout=30)
    it = iter(range(10**9))
    errors: Counter[tuple[str, int]] = Counter()  # (path, status) of every answer that was not a 200

    def pick():
        return sample[next(it) % len(sample)]

    def page(path: str, **params) -> float | None:
        resp = web.get(path, params=params)
        if resp.status_code != 200 or not resp.headers.get("content-type", "").startswith("text/html"):
            errors[(IDS.sub("…", path), resp.status_code)] += 1
            return None
        return float(resp.headers["server-timing"].partition("dur=")[2])

    def rest(path: str, **params) -> None:
        resp = api.get(path, params=params)
        if resp.status_code != 200:
            errors[(IDS.sub("…", "/v1" + path), resp.status_code)] += 1

    try:
        form = web.get("/sign-in", params={"next": "/test-runs"})
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        resp = web.post("/sign-in", data={"token": token.group(1) if token else "", "api_key": KEY, "next": "/test-runs"})
        if resp.status_code != 303 or "invarium_session" not in web.cookies:
            sys.exit(f"sign-in failed: {resp.status_code} {dict(resp.headers)} {resp.text[:300]}")

        # the page reached by following "Next page" 10 times, found once by walking the list
        deep = "/test-runs"
        for _ in range(10):
            found = NEXT.search(web.get(deep).text)
            if not found:
                sys.exit(f"no rel=next link on {deep}")
            deep = html.unescape(found.group(1))
        deep_cursor = parse_qs(urlsplit(deep).query)["cursor"][0]

        def run(suffix: str = "") -> str:
            a, r = pick()
            return f"/agent/{a}/test-runs/{r}{suffix}"

        def case() -> str:
            return run(f"/results/case-{next(it) % args.per_run:04d}")

        def cmp() -> tuple[str, dict]:
            a, b, h = compare_pairs[next(it) % len(compare_pairs)]
            return f"/agent/{a}/compare", {"base": b, "head": h}

        def agent() -> str:
            return agents[next(it) % len(agents)]

        cases: list[tuple[str, Callable[[], float | None], Callable[[], None]]] = [
            ("runs list", lambda: page("/test-runs"), lambda: rest("/test-runs", limit=50)),
            ("runs list status=has_failures&source=ci",
             lambda: page("/test-runs", status="has_failures", source="ci"),
             lambda: rest("/test-runs", status="has_failures", source="ci", limit=50)),
            ("runs list agent=<agent>", lambda: page("/test-runs", agent=agent()),
             lambda: rest("/test-runs", agent=agent(), limit=50)),
            ("runs list after 10x Next page", lambda: page(deep), lambda: rest("/test-runs", limit=50, cursor=deep_cursor)),
            ("run page (1,000 cases)", lambda: page(run()), lambda: rest(v1(run()), limit=50)),
            ("run page status=failed", lambda: page(run(), status="failed"),
             lambda: rest(v1(run()), status="failed", limit=50)),
            ("run page limit=100", lambda: page(run(), limit=100),
             lambda: rest(v1(run()), limit=100)),
            ("case detail", lambda: page(case()), lambda: rest(v1(case()))),
            ("compare two runs", lambda: page((c := cmp())[0], **c[1]),
             lambda: rest(v1((c := cmp())[0]), **c[1])),
            ("agents", lambda: page("/agents"), lambda: rest("/agents")),
        ]  # fmt: skip
        print(f"\n{args.runs:,} runs x {args.per_run:,} results = {args.runs * args.per_run:,} results; "
              f"{args.n} timed requests per case\n")  # fmt: skip
        print(f"{'page':42s} {'wall p50':>9s} {'p99':>8s} {'srv p50':>8s} {'srv p99':>8s} "
              f"{'REST p50':>9s} {'p99':>8s} {'p50/REST':>8s}")  # fmt: skip
        verdicts = []
        for name, page_fn, rest_fn in cases:
            wall, server = timed(page_fn, args.n)
            raw, _ = timed(rest_fn, args.n)
            ratio = statistics.median(wall) / statistics.median(raw)
            srv50, srv99 = (statistics.median(server), pct(server, 99)) if server else (float("nan"),) * 2
            verdicts.append((name, srv99, len(server) == args.n and srv99 < TARGET_MS))
            print(f"{name:42s} {statistics.median(wall):7.1f}ms {pct(wall, 99):6.1f}ms {srv50:6.1f}ms {srv99:6.1f}ms "
                  f"{statistics.median(raw):7.1f}ms {pct(raw, 99):6.1f}ms {ratio:7.2f}x", flush=True)  # fmt: skip
        print(f"\nquery process peak RSS: {peak_rss_mib(proc.pid):.0f} MiB")
        for (path, status), count in sorted(errors.items()):
            print(f"non-200 answers: {count} x {status} on {path}")
        print(f"\ntarget: p99 server time < {TARGET_MS} ms")
        for name, srv99, ok in verdicts:
            print(f"{'PASS' if ok else 'MISS'}  {name:42s} p99 {srv99:6.1f} ms")
    finally:
        web.close()
        api.close()
        proc.terminate()
        proc.wait(15)
        redis_proc.terminate()
        redis_proc.wait(10)


if __name__ == "__main__":
    main()
