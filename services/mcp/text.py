"""Plain-text answers of the MCP tools: pure functions of the REST answers (dicts) to text.

``test_run`` follows ``../shared/seeds/002_e7c5a5ffd39153cc.txt`` line for line; the others are
readable summaries in the same spirit (one fact per line, a dashboard link at the end).
"""

from __future__ import annotations

from typing import Any

_MARK = {"passed": "[PASSED]", "failed": "[FAILED]", "error": "[ERROR]", "pending": "[PENDING]"}


def percent(part: int, whole: int) -> str:
    """``80%``: rounded half up to a whole percent (0% for an empty run)."""
    if whole <= 0:
        return "0%"
    return f"{(200 * part + whole) // (2 * whole)}%"


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())


def _score(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.0f}" if float(value).is_integer() else f"{float(value):.1f}"


def dashboard_url(base_url: str, agent: str, run: str) -> str:
    return f"{base_url.rstrip('/')}/agent/{agent}/test-runs/{run}"


def result_block(row: dict[str, Any]) -> list[str]:
    status = str(row.get("status") or "pending").lower()
    title = _one_line(row.get("description")) or str(row.get("scenario_id") or row.get("result_id") or "")
    tools = [t if isinstance(t, str) else t.get("name", "") for t in row.get("tools_called") or []]
    lines = [
        f"{_MARK.get(status, f'[{status.upper()}]')} {title}",
        f'Input: "{_one_line(row.get("user_message"))}"',
        f"Tools called: {', '.join(tools) if tools else 'none'}",
    ]
    if status in ("failed", "error"):
        reason = _one_line(row.get("reason")) or row.get("failure_category") or "no reason recorded"
        lines.append(f"Error: {reason}")
    return lines


def test_run(detail: dict[str, Any], base_url: str = "") -> str:
    """The text of ``invarium_get_test_run`` for a run-detail answer of the query API."""
    s = detail["summary"]
    total, passed, failed = int(s.get("total") or 0), int(s.get("passed") or 0), int(s.get("failed") or 0)
    page = int(detail.get("page") or 1)
    pages = max(int(detail.get("pages") or 1), 1)
    lines = [
        f"Test Run: {s['test_run_id']}",
        f"Agent: {s['agent_name']}",
        f"Status: {s.get('status', 'pending')} | Passed: {passed}/{total} ({percent(passed, total)}) | "
        f"Failed: {failed}/{total}",
        f"Results (page {page}/{pages}):",
    ]
    rows = detail.get("results") or []
    for row in rows:
        lines.extend(result_block(row))
    if not rows:
        lines.append("No test case results on this page.")
    url = s.get("url") or dashboard_url(base_url, s["agent_name"], s["test_run_id"])
    lines.append(f"View on dashboard: {url}")
    return "\n".join(lines)


def runs(answer: dict[str, Any]) -> str:
    """``invarium_list_test_runs``: one line per run, newest first."""
    items = answer.get("runs") or []
    total = answer.get("total")
    head = f"Test runs (page {answer.get('page', 1)}, {len(items)} of {total if total is not None else '?'}):"
    lines = [head]
    for r in items:
        lines.append(
            f"- {r['test_run_id']} | {r['agent_name']} | {r.get('date', '')} | {r.get('status', '')} | "
            f"Passed: {r.get('passed', 0)}/{r.get('tests', 0)} | Failed: {r.get('failed', 0)} | "
            f"BSS: {_score(r.get('bss'))} | AQS: {_score(r.get('aqs'))} | Source: {r.get('source', '')}"
        )
    if not items:
        lines.append("No test runs match these filters.")
    if answer.get("next_cursor"):
        lines.append(f"More: call again with cursor=\"{answer['next_cursor']}\"")
    return "\n".join(lines)


def agent(a: dict[str, Any]) -> str:
    """``invarium_get_agent``: AQS, latest run and score trend."""
    lines = [f"Agent: {a['agent_name']}", f"AQS: {_score(a.get('aqs'))}",
             f"Runs: {a.get('runs', 0)} | Tests: {a.get('tests', 0)}"]  # fmt: skip
    latest = a.get("latest_run")
    if latest:
        t = int(latest.get("tests") or 0)
        lines.append(
            f"Latest run: {latest['test_run_id']} ({latest.get('date', '')}) | {latest.get('status', '')} | "
            f"Passed: {latest.get('passed', 0)}/{t} ({percent(int(latest.get('passed') or 0), t)}) | "
            f"BSS: {_score(latest.get('bss'))} | AQS: {_score(latest.get('aqs'))}"
        )
    trend = a.get("trend") or []
    if trend:
        lines.append("Score trend (oldest first): " + ", ".join(f"{_score(p.get('aqs'))}" for p in trend[-10:]))
    return "\n".join(lines)


def agents(answer: dict[str, Any]) -> str:
    """``invarium_list_agents``: one line per agent."""
    items = answer.get("agents") or []
    if not items:
        return "No agents yet: sync results with invarium_sync_results first."
    lines = [f"Agents ({len(items)}):"]
    for a in items:
        latest = a.get("latest_run") or {}
        lines.append(f"- {a['agent_name']} | AQS: {_score(a.get('aqs'))} | Runs: {a.get('runs', 0)} | "
                     f"Latest run: {latest.get('test_run_id', 'none')}")  # fmt: skip
    return "\n".join(lines)


def _case(c: dict[str, Any], extra: str = "") -> str:
    title = _one_line(c.get("description")) or c.get("scenario_id", "")
    return f"- {title} ({c.get('scenario_id', '')}){extra}"


def compare(c: dict[str, Any]) -> str:
    """``invarium_compare_test_runs``: score deltas, then per-case regressions first."""
    base, head = c.get("base") or {}, c.get("head") or {}
    lines = [
        f"Compare: {base.get('test_run_id')} -> {head.get('test_run_id')} (agent {c.get('agent_name')})",
        f"BSS: {c.get('bss_change') or 'n/a'} | AQS: {c.get('aqs_change') or 'n/a'}",
        f"Shared cases: {c.get('shared', 0)} | Regressions: {len(c.get('regressions') or [])} | "
        f"Fixes: {len(c.get('fixes') or [])} | New in head: {len(c.get('new_in_head') or [])} | "
        f"Missing from head: {len(c.get('missing_from_head') or [])}",
    ]
    sections = (("Regressions (passed -> failed)", "regressions"), ("Fixes (failed -> passed)", "fixes"),
                ("New in head", "new_in_head"), ("Missing from head (not counted as passing)", "missing_from_head"))  # fmt: skip
    for title, key in sections:
        items = c.get(key) or []
        if not items:
            continue
        lines.append(f"{title}:")
        for item in items:
            reason = item.get("head_reason")
            extra = f": {_one_line(reason)}" if reason and key == "regressions" else ""
            if key in ("new_in_head", "missing_from_head"):
                extra = f" [{item.get('status', '')}]"
            lines.append(_case(item, extra))
    changes = {k: v for k, v in (c.get("category_changes") or {}).items() if v.get("delta")}
    if changes:
        lines.append("Failure categories: " + ", ".join(f"{k} {v['base']} -> {v['head']} ({v['delta']:+d})"
                                                          for k, v in sorted(changes.items())))  # fmt: skip
    return "\n".join(lines)


def synced(s: dict[str, Any]) -> str:
    """``invarium_sync_results``."""
    return "\n".join([
        f"Synced {s.get('accepted', 0)} results to test run {s['test_run_id']} (agent {s['agent_name']}).",
        f"Duplicates skipped: {s.get('duplicates', 0)} | Requests: {s.get('requests', 1)} | Status: {s.get('status')}",
        "Results read as pending until the scorer has judged them (usually within seconds).",
        f"View on dashboard: {s['url']}",
    ])  # fmt: skip


def rescore_job(job: dict[str, Any]) -> str:
    """``invarium_rescore``."""
    lines = [f"Re-score job {job['job_id']}: {job.get('status')}"
             + (f" ({job['phase']})" if job.get("phase") else "")]  # fmt: skip
    if job.get("total"):
        lines.append(f"Progress: {job.get('done', 0)}/{job['total']} events, {job.get('runs', 0)} runs")
    if job.get("error"):
        lines.append(f"Error: {job['error']}")
    lines.append("Old scores stay visible until the re-score switches over.")
    if job.get("url"):
        lines.append(f"Status: {job['url']}")
    return "\n".join(lines)
