"""Stored rows in, API answers out. Pure: run status, pending counts, the JSON shapes.

The shapes are the contract in ``briefs/query-contract.md``; keys may be added, never renamed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

FAILURE_KEYS = ("tool_usage", "knowledge", "safety", "runtime", "other")
_NAMED = ("tool_usage", "knowledge", "safety")
TREND_POINTS = 30


@dataclass(frozen=True)
class LiveRun:
    """What the event log (Redis) knows of a run right now: ingest's run hash."""

    state: str | None = None  # running / completed / deleted; None when unknown or expired
    accepted: int = 0
    source: str | None = None
    mode: str | None = None  # sync (one-shot syncs) / streaming (created empty)


def iso(us: int | None) -> str | None:
    if us is None:
        return None
    at = datetime.fromtimestamp(us / 1_000_000, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 1)


def failure_key(status: str | None, category: str | None) -> str | None:
    """Which bucket of the failure breakdown a result counts in (None: it did not fail)."""
    if status == "error":
        return "runtime"
    if status == "failed":
        return category if category in _NAMED else "other"
    return None


def pending_count(accepted: int, scored: int) -> int:
    """Results accepted by ingest but not yet scored; never negative (a hash that expired, or a
    re-score that raced the count, must not make up missing cases)."""
    return max(0, int(accepted or 0) - int(scored or 0))


def run_status(*, closed: bool, scored: int, errors: int, pending: int) -> str:
    """completed / failed / running / pending, for a run that is not deleted.

    - pending: nothing has been evaluated yet (an empty streaming run, or results still queued);
    - running: results are still coming (not completed) or being scored;
    - failed: completed, and every evaluated case hit a runtime error — the run itself failed;
    - completed: completed and fully scored.
    """
    if scored == 0 and (pending > 0 or not closed):
        return "pending"
    if not closed or pending > 0:
        return "running"
    if scored > 0 and errors == scored:
        return "failed"
    return "completed"


def run_url(base_url: str, agent: str, run: str) -> str:
    return f"{base_url}/agent/{agent}/test-runs/{run}"


def _counts(run: Mapping[str, Any] | None, live: LiveRun) -> dict[str, Any]:
    run = run or {}
    scored = int(run.get("total") or 0)
    pending = pending_count(live.accepted, scored)
    # A streaming run (created empty) is open until it is completed; a sync-mode run is done as
    # soon as what was synced is scored (a later incremental sync makes it running again).
    closed = (live.state == "completed" or run.get("completed_us") is not None
              or (run.get("mode") or live.mode) == "sync")  # fmt: skip
    errors = int(run.get("errors") or 0)
    return {"scored": scored, "pending": pending, "total": scored + pending, "errors": errors,
            "status": run_status(closed=closed, scored=scored, errors=errors, pending=pending)}  # fmt: skip


def run_row(agent: str, run_id: str, run: Mapping[str, Any] | None, live: LiveRun, base_url: str) -> dict[str, Any]:
    """One row of the runs list."""
    c = _counts(run, live)
    run = run or {}
    return {
        "test_run_id": run_id, "agent_name": agent, "date": iso(run.get("date_us")), "tests": c["total"],
        "passed": int(run.get("passed") or 0), "failed": int(run.get("failed") or 0), "errors": c["errors"],
        "pending": c["pending"], "bss": score(run.get("bss")), "aqs": score(run.get("aqs")),
        "source": run.get("source") or live.source, "status": c["status"], "url": run_url(base_url, agent, run_id),
    }  # fmt: skip


def summary(agent: str, run_id: str, run: Mapping[str, Any] | None, live: LiveRun, base_url: str) -> dict[str, Any]:
    """The run-detail summary bar."""
    c = _counts(run, live)
    run = run or {}
    passed = int(run.get("passed") or 0)
    breakdown = {k: int(run.get(k) or 0) for k in _NAMED}
    breakdown["runtime"] = int(run.get("runtime") or 0)
    breakdown["other"] = int(run.get("other_failures") or 0)
    return {
        "test_run_id": run_id, "agent_name": agent, "status": c["status"], "source": run.get("source") or live.source,
        "total": c["total"], "scored": c["scored"], "passed": passed, "failed": int(run.get("failed") or 0),
        "errors": c["errors"], "pending": c["pending"],
        "pass_rate": round(100.0 * passed / c["scored"], 1) if c["scored"] else None,
        "bss": score(run.get("bss")), "aqs": score(run.get("aqs")), "failure_breakdown": breakdown,
        "cost_usd": run.get("cost_usd"), "cost_complete": bool(run.get("cost_complete", True)),
        "duration_ms": run.get("duration_ms"), "input_tokens": run.get("input_tokens"),
        "output_tokens": run.get("output_tokens"), "created_at": iso(run.get("date_us")),
        "completed_at": iso(run.get("completed_us")), "algorithm_version": run.get("algorithm_version"),
        "url": run_url(base_url, agent, run_id),
    }  # fmt: skip


def result_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One case of the run-detail list (a pending one has only its id and status)."""
    return {
        "result_id": row["result_id"], "scenario_id": row.get("scenario_id"), "description": row.get("description"),
        "complexity": row.get("complexity"), "target_failure": row.get("target_failure"),
        "status": row.get("status") or "pending", "severity": row.get("severity"),
        "failure_category": row.get("failure_category"), "failure_subtype": row.get("failure_subtype"),
        "reason": row.get("reason"), "user_message": row.get("user_message"),
        "tools_called": list(row.get("tool_sequence") or []),
    }  # fmt: skip


def pending_row(result_id: str) -> dict[str, Any]:
    return result_row({"result_id": result_id, "status": "pending"})


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return default


def case_detail(row: Mapping[str, Any]) -> dict[str, Any]:
    """Everything about one case: texts, tool calls, verdict, sequence diff, LLM calls, timing, trace."""
    calls = _loads(row.get("tools_called_json"), [])
    llm = _loads(row.get("llm_calls_json"), [])
    costs = list(row.get("llm_costs") or [])
    llm_calls = [{"provider": c.get("provider"), "model": c.get("model"), "input_tokens": c.get("input_tokens"),
                  "output_tokens": c.get("output_tokens"), "latency_ms": c.get("latency_ms"),
                  "tools_offered": c.get("tools_offered") or [], "tools_chosen": c.get("tools_chosen") or [],
                  "cost_usd": costs[i] if i < len(costs) else None} for i, c in enumerate(llm)]  # fmt: skip
    tools = [{"name": c.get("name"), "arguments": c.get("arguments"), "result": c.get("result"),
              "duration_ms": c.get("duration_ms"), "error": c.get("error")} for c in calls]  # fmt: skip
    trace = _loads(row.get("trace_json"), [])
    if all(isinstance(e, dict) and isinstance(e.get("at"), str) for e in trace):
        trace = sorted(trace, key=lambda e: e["at"])  # stable: events at the same instant keep their order
    status = row.get("status")
    return {
        "result_id": row["result_id"], "scenario_id": row.get("scenario_id"), "description": row.get("description"),
        "complexity": row.get("complexity"), "target_failure": row.get("target_failure"), "status": status,
        "user_message": row.get("user_message"), "expected_behavior": row.get("expected_behavior"),
        "agent_response": row.get("agent_response"), "tools_called": tools,
        "failure": {"category": row.get("failure_category"), "subtype": row.get("failure_subtype"),
                    "severity": row.get("severity"), "reason": row.get("reason")},  # all null when passed
        "sequence": {"tool_match": row.get("tool_match"), "expected": list(row.get("expected_tools") or []),
                     "actual": list(row.get("tool_sequence") or []), "missing": list(row.get("missing_steps") or []),
                     "extra": list(row.get("extra_steps") or []), "reordered": list(row.get("reordered_steps") or []),
                     "forbidden": list(row.get("forbidden_tools") or [])},
        "llm_calls": llm_calls,
        "timing": {"duration_ms": row.get("duration_ms"), "tools_ms": _sum(t.get("duration_ms") for t in tools),
                   "llm_ms": _sum(c.get("latency_ms") for c in llm_calls)},
        "tokens": {"input": row.get("input_tokens"), "output": row.get("output_tokens")},
        "cost_usd": row.get("cost_usd"), "cost_known": row.get("cost_known"), "trace": trace,
        "algorithm_version": row.get("algorithm_version"), "synced_at": iso(row.get("synced_us")),
        "source": row.get("source"),
    }  # fmt: skip


def _sum(values) -> float:
    return float(sum(v for v in values if isinstance(v, int | float)))


def agent_view(agent: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An agent from its runs (oldest first): AQS of its latest scored run, latest run, trend."""
    latest = runs[-1] if runs else None
    scored = [r for r in runs if score(r.get("aqs")) is not None]
    return {
        "agent_name": agent,
        "aqs": score(scored[-1]["aqs"]) if scored else None,
        "bss": score(scored[-1]["bss"]) if scored else None,
        "runs": len(runs),
        "tests": sum(int(r.get("total") or 0) for r in runs),
        "latest_run": None if latest is None else {
            "test_run_id": latest["run"], "date": iso(latest.get("date_us")), "bss": score(latest.get("bss")),
            "aqs": score(latest.get("aqs")), "status": latest.get("status"), "passed": int(latest.get("passed") or 0),
            "failed": int(latest.get("failed") or 0), "tests": int(latest.get("total") or 0)},
        "trend": [{"test_run_id": r["run"], "date": iso(r.get("date_us")), "bss": score(r.get("bss")),
                   "aqs": score(r.get("aqs"))} for r in scored[-TREND_POINTS:]],
    }  # fmt: skip
