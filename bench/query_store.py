"""Build (once) the 10M-result store the query benchmark reads.

Same table format as the scorer writes (``RESULTS_SCHEMA``, ``RUN_STATS_SCHEMA``,
``RUN_EVENTS_SCHEMA`` Delta tables under ``<dir>/tables/<generation>``), generated with
Arrow in big streamed commits instead of through the stream, so it takes minutes. A run's
results are contiguous, as the write path leaves them. ``--layout sorted`` (default) writes
each agent's runs in run-id order; ``--layout arrival`` in sync order with agents interleaved,
so file and row-group min/max of run ids prune nothing (the worst case for reads).
Run stats are computed with the scorer's own SQL and score formulas over each batch.

    python -m bench.query_store [--runs 10000] [--per-run 1000] [--dir DIR] [--layout sorted|arrival]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
from deltalake import WriterProperties, write_deltalake

from services.scorer.core.classify import ALGORITHM_VERSION
from services.scorer.core.project import RESULTS_SCHEMA, RUN_EVENTS_SCHEMA
from services.scorer.core.scoring import COMPLEXITY_CODES, SEVERITY_CODES, STATUS_CODES, result_terms, scores_from_sums
from services.scorer.tables import _STATS_SQL, DEFAULT_GENERATION, RUN_STATS_SCHEMA

AGENTS = 10
FORMAT = "rg10k"  # bump when the layout changes, so a cached store is rebuilt
RUNS_PER_BATCH = 100  # 100k rows per Arrow batch
# Row groups of 10k rows (~10 runs): a run detail or a case decodes one or two groups, not 50k rows.
WRITER = WriterProperties(max_row_group_size=10_000, compression="ZSTD", compression_level=1)
TOOLS = ["search_knowledge_base", "get_shipping_rates", "escalate_to_human", "lookup_order", "export_data"]
STATUSES = np.array(["passed", "failed", "error"])
CATEGORIES = np.array(["tool_usage", "knowledge", "safety"])
SEVERITIES = np.array(["low", "medium", "high", "critical"])
COMPLEXITIES = np.array(["simple", "moderate", "complex"])


def default_dir() -> Path:
    return Path("data/bench-query")


def _pool(values: list, typ=pa.string()) -> pa.Array:
    return pa.array(values, typ)


def _pools(per_run: int) -> dict[str, pa.Array]:
    rng = np.random.default_rng(7)
    tool_variants = []
    for v in range(64):
        names = [TOOLS[(v + k) % len(TOOLS)] for k in range(1 + v % 3)]
        tool_variants.append([{"name": n, "arguments": {"query": f"q{v}", "limit": 5}, "result": {"hits": v % 7},
                               "duration_ms": float(10 + v), "order": k, "error": None} for k, n in enumerate(names)])
    llm = [[{"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 400 + v * 13, "output_tokens": 40 + v,
             "latency_ms": 300.0 + v * 7, "tools_offered": TOOLS[:4], "tools_chosen": TOOLS[v % 2: v % 2 + 1]}]
           for v in range(64)]  # fmt: skip
    trace = [[{"at": f"2026-11-21T10:00:0{k}.000Z", "kind": kind, "name": name, "duration_ms": 10.0 + v}
              for k, (kind, name) in enumerate([("message", "user"), ("llm_call", "gpt-4o-mini"),
                                                ("tool_call", TOOLS[v % 5]), ("message", "assistant")])]
             for v in range(64)]  # fmt: skip
    return {
        "result_id": _pool([f"case-{i:04d}" for i in range(per_run)]),
        "scenario_id": _pool([f"scenario-{i:04d}" for i in range(per_run)]),
        "description": _pool([f"Scenario {i}: {['refund policy', 'shipping cost', 'account deletion', 'data export'][i % 4]}"
                              for i in range(per_run)]),
        "user_message": _pool([f"Customer question number {i} about {['refunds', 'shipping', 'my account', 'exports'][i % 4]}"
                               for i in range(per_run)]),
        "agent_response": _pool([f"Thanks for reaching out. Per our policy (ref {rng.integers(10**6):06d}) here is what I found."
                                 for _ in range(256)]),
        "tools_json": _pool([orjson.dumps(t).decode() for t in tool_variants]),
        "tool_seq": pa.array([[c["name"] for c in t] for t in tool_variants], pa.list_(pa.string())),
        "llm_json": _pool([orjson.dumps(x).decode() for x in llm]),
        "trace_json": _pool([orjson.dumps(x).decode() for x in trace]),
        "expected": pa.array([[TOOLS[v % 5]] for v in range(64)], pa.list_(pa.string())),
    }


def _run_ids(agent: int, runs: int) -> list[str]:
    return sorted("tr_" + hashlib.blake2b(f"{agent}/{r}".encode(), digest_size=8).hexdigest() for r in range(runs))


def _batch(agent: str, runs: list[str], dates: np.ndarray, per_run: int, pools, rng, seq0: int) -> pa.Table:
    n = len(runs) * per_run
    case = np.tile(np.arange(per_run), len(runs))
    run_idx = np.repeat(np.arange(len(runs)), per_run)
    status = STATUSES[rng.choice(3, n, p=[0.8, 0.15, 0.05])]
    failed = status == "failed"
    category = np.where(failed, CATEGORIES[rng.integers(0, 3, n)], None)
    severity = np.where(failed, SEVERITIES[rng.integers(0, 4, n)], None)
    complexity = COMPLEXITIES[case % 3]
    variant = pa.array(rng.integers(0, 64, n))
    synced = (dates[run_idx] + case * 1000).astype("datetime64[us]")
    scored, cost, weight, passed = result_terms(
        np.vectorize(STATUS_CODES.get)(status), np.array([SEVERITY_CODES.get(s or "", 0) for s in severity]),
        np.vectorize(COMPLEXITY_CODES.get)(complexity))  # fmt: skip
    seq = np.arange(seq0, seq0 + n)
    stream_ids = pa.array([f"{1763700000000 + s // 100}-{s % 100}" for s in seq])
    tokens_in = rng.integers(300, 3000, n)
    case_arr = pa.array(case)
    cols = {
        "agent": pa.array([agent] * n), "run": pa.array(np.repeat(np.array(runs), per_run)),
        "result_id": pools["result_id"].take(case_arr), "stream_id": stream_ids,
        "partition": pa.array(np.zeros(n, np.int32)), "event_id": stream_ids,
        "synced_at": pa.array(synced, pa.timestamp("us", tz="UTC")), "source": pa.array(["ci"] * n),
        "scenario_id": pools["scenario_id"].take(case_arr), "description": pools["description"].take(case_arr),
        "complexity": pa.array(complexity), "target_failure": pa.array(CATEGORIES[case % 3]),
        "user_message": pools["user_message"].take(case_arr),
        "expected_behavior": pa.array(["Answers from the knowledge base; escalates anything destructive."] * n),
        "agent_response": pools["agent_response"].take(pa.array(rng.integers(0, 256, n))),
        "expected_tools": pools["expected"].take(variant), "tool_match": pa.array(["strict"] * n),
        "forbidden_tools": pa.array([["delete_account"]] * n, pa.list_(pa.string())),
        "tool_sequence": pools["tool_seq"].take(variant), "tools_called_json": pools["tools_json"].take(variant),
        "llm_calls_json": pools["llm_json"].take(variant), "llm_costs": pa.array([[0.0002]] * n, pa.list_(pa.float64())),
        "trace_json": pools["trace_json"].take(variant), "duration_ms": pa.array(rng.uniform(500, 5000, n)),
        "client_status": pa.nulls(n, pa.string()), "client_error": pa.nulls(n, pa.string()),
        "status": pa.array(status), "failure_category": pa.array(category, pa.string()),
        "failure_subtype": pa.array(np.where(failed, "wrong_tool", None), pa.string()),
        "severity": pa.array(severity, pa.string()),
        "reason": pa.array(np.where(status == "passed", None, "Agent called the wrong tool for this request."), pa.string()),
        "missing_steps": pa.array([[]] * n, pa.list_(pa.string())), "extra_steps": pa.array([[]] * n, pa.list_(pa.string())),
        "reordered_steps": pa.array([[]] * n, pa.list_(pa.string())), "input_tokens": pa.array(tokens_in),
        "output_tokens": pa.array(tokens_in // 10), "cost_usd": pa.array(tokens_in * 1.5e-7),
        "cost_known": pa.array(np.ones(n, bool)), "score_scored": pa.array(scored, pa.float64()),
        "score_cost": pa.array(cost, pa.float64()), "score_weight": pa.array(weight, pa.float64()),
        "score_passed_weight": pa.array(passed, pa.float64()), "algorithm_version": pa.array([ALGORITHM_VERSION] * n),
    }  # fmt: skip
    return pa.table(cols).cast(RESULTS_SCHEMA)


def _stats(batch: pa.Table, as_of: int) -> pa.Table:
    con = duckdb.connect(config={"threads": 2})
    con.register("batch", batch)
    con.execute("CREATE TABLE wanted AS SELECT DISTINCT agent, run FROM batch")
    stats = con.sql(_STATS_SQL.replace("{source}", "batch").replace("{prune}", "true")).to_arrow_table()
    con.close()
    sums = (np.nan_to_num(stats[c].to_numpy(zero_copy_only=False).astype(float))
            for c in ("score_scored", "score_cost", "score_weight", "score_passed_weight"))  # fmt: skip
    bss, aqs = scores_from_sums(*sums)
    stats = stats.append_column("bss", pa.array(bss)).append_column("aqs", pa.array(aqs))
    stats = stats.append_column("as_of", pa.array([as_of] * stats.num_rows, pa.int64()))
    return stats.select(RUN_STATS_SCHEMA.names).cast(RUN_STATS_SCHEMA)


def build(root: Path, runs: int, per_run: int, layout: str = "sorted") -> Path:
    """Write the store under ``root`` (replacing a partial one); returns the generation path.

    ``sorted``: each agent's runs in run-id order, so a file holds a narrow id range.
    ``arrival``: as the scorer's write path leaves it: runs in the order they were synced
    (dates), agents interleaved, so every file holds random run ids of every agent."""
    if root.exists():
        shutil.rmtree(root)
    gen = root / "tables" / DEFAULT_GENERATION
    gen.mkdir(parents=True)
    rng = np.random.default_rng(42)
    pools = _pools(per_run)
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    stats_parts, events = [], []
    seq = 0
    per_agent = runs // AGENTS
    plans = []
    for a in range(AGENTS):
        agent = f"agent-{a:02d}"
        ids = _run_ids(a, per_agent)
        # dates spread over 60 days, in no relation to the id order (ids are random)
        dates = now - (rng.integers(0, 60 * 24 * 3600, per_agent) * 1_000_000).astype("timedelta64[us]")
        if layout == "arrival":
            order = np.argsort(dates)
            ids, dates = [ids[i] for i in order], dates[order]
        plans.append((a, agent, ids, dates))
        for run_id, at in zip(ids, dates):
            created = at.astype("datetime64[us]").astype(datetime).replace(tzinfo=UTC)
            events.append((agent, run_id, "RunCreated", "0-0", 0, created, "ci", "sync"))
            events.append((agent, run_id, "RunCompleted", "0-0", 0, created + timedelta(seconds=per_run), None, None))

    def batches(chosen):
        nonlocal seq
        for start in range(0, per_agent, RUNS_PER_BATCH):
            for a, agent, ids, dates in chosen:  # one agent (sorted) or all of them in turn (arrival)
                part = _batch(agent, ids[start:start + RUNS_PER_BATCH], dates[start:start + RUNS_PER_BATCH],
                              per_run, pools, rng, seq)  # fmt: skip
                seq += part.num_rows
                stats_parts.append(_stats(part, a))
                yield from part.to_batches()

    for chosen in ([[p] for p in plans] if layout == "sorted" else [plans]):
        reader = pa.RecordBatchReader.from_batches(RESULTS_SCHEMA, batches(chosen))
        write_deltalake(str(gen / "results"), reader, mode="append", writer_properties=WRITER,
                        target_file_size=256 * 1024 * 1024)  # fmt: skip
        print(f"  {', '.join(p[1] for p in chosen)}: {len(chosen) * per_agent * per_run:,} results written", flush=True)
    write_deltalake(str(gen / "run_stats"), pa.concat_tables(stats_parts), mode="append")
    cols = list(zip(*events))
    ev = pa.table([pa.array(c, f.type) for c, f in zip(cols, RUN_EVENTS_SCHEMA)], schema=RUN_EVENTS_SCHEMA)
    write_deltalake(str(gen / "run_events"), ev, mode="append")
    (root / "tables" / "CURRENT").write_text(DEFAULT_GENERATION + "\n")
    (root / "COMPLETE").write_text(f"{runs} {per_run} {FORMAT} {layout}\n")
    return gen


def ensure(root: Path, runs: int, per_run: int, layout: str = "sorted") -> Path:
    """The store under ``root``, built only when missing or of another size or layout."""
    marker = root / "COMPLETE"
    if marker.is_file() and marker.read_text().split() == [str(runs), str(per_run), FORMAT, layout]:
        print(f"store: reusing {root} ({runs:,} runs x {per_run:,})", flush=True)
        return root
    print(f"store: building {runs:,} runs x {per_run:,} results under {root} …", flush=True)
    t0 = time.perf_counter()
    build(root, runs, per_run, layout)
    print(f"store: built in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--per-run", type=int, default=1_000)
    ap.add_argument("--dir", type=Path, default=default_dir())
    ap.add_argument("--layout", choices=("sorted", "arrival"), default="sorted")
    args = ap.parse_args()
    ensure(args.dir, args.runs, args.per_run, args.layout)


if __name__ == "__main__":
    main()
