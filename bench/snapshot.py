"""The query service's snapshot load after one scorer commit: patched vs rebuilt.

A store of N runs (``bench.query_store``'s format, 2 results a run) gets commits like the live
path's: a ``run_stats`` file with the stats of 20 runs and a ``run_events`` file. After each one
the query service's loader brings its snapshot up to date: it patches the runs index for the
runs the commit touched. The raw limit compared against is a full rebuild of the same snapshot
(a fresh loader on the same files: what every load did before the patch).

    python -m bench.snapshot [--runs 3000,30000] [--commits 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from bench.query_store import build
from services.query.catalog import Snapshot, SnapshotLoader
from services.scorer.tables import DEFAULT_GENERATION


def bench(runs: int, commits: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="invarium-bench-snapshot-"))
    try:
        build(root, runs, 2)
        gen = root / "tables" / DEFAULT_GENERATION
        stats = DeltaTable(str(gen / "run_stats")).to_pyarrow_table().slice(0, 20)
        events = DeltaTable(str(gen / "run_events")).to_pyarrow_table().slice(0, 20)
        con = duckdb.connect(config={"threads": 2})
        loader = SnapshotLoader(root)
        snap = loader.load(Snapshot(), con.cursor())
        patched, rebuilt = [], []
        for i in range(commits):
            as_of = pa.array([10**9 + i] * stats.num_rows, pa.int64())
            write_deltalake(str(gen / "run_stats"), stats.set_column(stats.schema.get_field_index("as_of"), "as_of", as_of),
                            mode="append")  # fmt: skip
            write_deltalake(str(gen / "run_events"), events, mode="append")
            t0 = time.perf_counter()
            snap = loader.load(snap, con.cursor())
            patched.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            fresh = SnapshotLoader(root).load(Snapshot(), con.cursor())
            rebuilt.append(time.perf_counter() - t0)
            assert fresh.runs == snap.runs and fresh.index.rows == snap.index.rows, "patched != rebuilt"
        p, r = statistics.median(patched) * 1e3, statistics.median(rebuilt) * 1e3
        print(f"{len(snap.runs):>7,} runs: load after a 20-run commit, median of {commits}: patched {p:6.1f} ms, "
              f"rebuilt {r:6.1f} ms  (patched/rebuilt {p / r:.2f})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="3000,30000")
    ap.add_argument("--commits", type=int, default=20)
    args = ap.parse_args()
    for n in args.runs.split(","):
        bench(int(n), args.commits)


if __name__ == "__main__":
    main()
