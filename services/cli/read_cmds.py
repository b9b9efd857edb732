"""Commands that read: ``runs``, ``show``, ``compare``, ``export``, ``agents``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from services.cli.common import JsonOption, app, checked, err, fail, out, print_json, run, score, table
from services.client import InvariumClient, InvariumError
from services.mcp import params, text


@app.command()
def runs(
    ctx: typer.Context,
    agent: list[str] = typer.Option(None, "--agent", help="Only these agents (repeatable)"),
    date_range: str = typer.Option(None, "--range", help="24h, 7d or 30d"),
    since: str = typer.Option(None, "--since", help="ISO 8601 start"),
    until: str = typer.Option(None, "--until", help="ISO 8601 end"),
    status: str = typer.Option(None, "--status", help="all, has_failures or all_passed"),
    source: list[str] = typer.Option(None, "--source", help="mcp, ci, cli or api (repeatable)"),
    page: int = typer.Option(1, "--page"),
    limit: int = typer.Option(20, "--limit"),
    cursor: str = typer.Option(None, "--cursor", help="Opaque cursor printed by the previous page"),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """List test runs, newest first."""

    def check() -> None:
        params.one_of(status, params.RUN_STATUSES)
        params.one_of(date_range, params.RANGES, "range")
        for s in source or ():
            params.one_of(s, params.SOURCES, "source")
        params.page_and_limit(page, limit)

    checked(check)
    data = run(ctx, lambda c: c.list_runs(agents=agent or (), date_range=date_range, since=since, until=until,
                                          status=status, sources=source or (), page=page, limit=limit, cursor=cursor))  # fmt: skip
    if json_out:
        print_json(data)
        return
    rows = [(r["test_run_id"], r["agent_name"], r.get("date"), r.get("tests"), r.get("passed"), r.get("failed"),
             score(r.get("bss")), score(r.get("aqs")), r.get("source"), r.get("status")) for r in data.get("runs", [])]  # fmt: skip
    table(("Run ID", "Agent", "Date", "Tests", "Passed", "Failed", "BSS", "AQS", "Source", "Status"), rows,
          title=f"Test runs: page {data.get('page', page)}, {len(rows)} of {data.get('total', '?')}")  # fmt: skip
    if data.get("next_cursor"):
        err.print(f"next page: --cursor {data['next_cursor']}", highlight=False)


@app.command()
def show(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., metavar="RUN", help="Test run id"),
    agent: str = typer.Option(..., "--agent", help="Agent name"),
    status: str = typer.Option(None, "--status", help="passed, failed, error or pending"),
    category: str = typer.Option(None, "--category", help="Failure category, e.g. safety"),
    severity: str = typer.Option(None, "--severity", help="critical, high, medium or low"),
    search: str = typer.Option(None, "--search", help="Text in the user message"),
    page: int = typer.Option(1, "--page"),
    limit: int = typer.Option(20, "--limit"),
    as_text: bool = typer.Option(False, "--text", help="The MCP tool's text (invarium_get_test_run) instead of a table"),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """One test run: summary and a page of its results."""
    agent, run_id, status = checked(lambda: params.get_test_run(agent, run_id, status, page, limit))
    data = run(ctx, lambda c: c.get_run(agent, run_id, status=status, category=category, severity=severity,
                                        q=search, page=page, limit=limit))  # fmt: skip
    if json_out:
        print_json(data)
        return
    if as_text:
        out(text.test_run(data))
        return
    s = data["summary"]
    total = int(s.get("total") or 0)
    out(f"Test Run: {s['test_run_id']}  Agent: {s['agent_name']}  Status: {s.get('status')}  Source: {s.get('source')}")
    out(f"Passed: {s.get('passed')}/{total} ({text.percent(int(s.get('passed') or 0), total)})  "
        f"Failed: {s.get('failed')}  Errors: {s.get('errors')}  Pending: {s.get('pending')}  "
        f"BSS: {score(s.get('bss'))}  AQS: {score(s.get('aqs'))}")  # fmt: skip
    rows = [(r.get("status"), r.get("scenario_id"), r.get("description"), r.get("severity"),
             r.get("failure_category"), r.get("reason")) for r in data.get("results", [])]  # fmt: skip
    table(("Status", "Scenario", "Description", "Severity", "Failure", "Reason"), rows,
          title=f"Results: page {data.get('page', page)}/{max(int(data.get('pages') or 1), 1)}")  # fmt: skip
    out(f"View on dashboard: {s.get('url', '')}")


@app.command()
def compare(
    ctx: typer.Context,
    base: str = typer.Argument(..., help="Baseline run id"),
    head: str = typer.Argument(..., help="New run id"),
    agent: str = typer.Option(..., "--agent", help="Agent name"),
    fail_on_regression: bool = typer.Option(False, "--fail-on-regression",
                                            help="Exit 1 when a case passed in BASE and fails in HEAD (CI gate)"),
    wait: float = typer.Option(None, "--wait", min=0,
                               help="Seconds to wait for both runs to be fully scored first "
                                    "(default: 300 with --fail-on-regression, else 0)"),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """Compare two runs: score deltas, regressions, fixes, new and missing cases.

    As a CI gate (--fail-on-regression) it first waits until no case of either run is pending,
    so a run synced a moment ago is judged on all of its cases. Exit codes: 0 passed, 1 a case
    regressed, 2 the runs were not fully scored within --wait."""
    wait = (300.0 if fail_on_regression else 0.0) if wait is None else wait
    if wait:
        left = run(ctx, lambda c: c.wait_scored(agent, [base, head], timeout_s=wait))
        if any(left.values()):
            still = ", ".join(f"{r}: {n if n > 0 else 'not visible yet'}" for r, n in left.items() if n)
            fail(f"runs still being scored after {wait:g} s (pending {still}); nothing was judged. "
                 "Raise --wait, or check the scorer", code=2)  # fmt: skip
    data = run(ctx, lambda c: c.compare(agent, base, head))
    if json_out:
        print_json(data)
    else:
        out(text.compare(data))
    regressions = len(data.get("regressions") or [])
    if fail_on_regression and regressions:
        err.print(f"quality gate failed: {regressions} regression(s) from {base} to {head}", highlight=False)
        raise typer.Exit(1)


@app.command()
def export(
    ctx: typer.Context,
    ids: list[str] = typer.Argument(..., metavar="IDS...", help="Test run ids"),
    fmt: str = typer.Option("jsonl", "--format", help="csv, json or jsonl"),
    output: Path = typer.Option(None, "-o", "--output", help="File to write (default: stdout)"),
) -> None:  # fmt: skip
    """Stream every result of the runs as CSV, JSON or JSONL (constant memory on both ends)."""
    if fmt not in ("csv", "json", "jsonl"):
        fail(f"Invalid format '{fmt}': use csv, json or jsonl")
    partial = output.with_name(f".{output.name}.part") if output else None

    async def go(client: InvariumClient) -> int:
        written = 0
        sink = partial.open("wb") if partial else sys.stdout.buffer
        try:
            async with client.export(ids, fmt) as chunks:
                async for chunk in chunks:
                    sink.write(chunk)
                    written += len(chunk)
        finally:
            if partial:
                sink.close()
            else:
                sink.flush()
        return written

    try:
        written = run(ctx, go)
    except (typer.Exit, InvariumError):
        if partial:
            partial.unlink(missing_ok=True)
        raise
    if output and partial:
        partial.replace(output)
        err.print(f"wrote {written:,} bytes to {output}", highlight=False)


@app.command()
def agents(
    ctx: typer.Context,
    name: str = typer.Argument(None, metavar="[AGENT]", help="Show one agent (AQS, latest run, trend)"),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """List agents with their AQS and latest run, or show one."""
    if name:
        one: dict[str, Any] = run(ctx, lambda c: c.get_agent(name))
        print_json(one) if json_out else out(text.agent(one))
        return
    data = run(ctx, lambda c: c.list_agents())
    if json_out:
        print_json(data)
        return
    rows = [(a["agent_name"], score(a.get("aqs")), a.get("runs"), a.get("tests"),
             (a.get("latest_run") or {}).get("test_run_id"), (a.get("latest_run") or {}).get("date"))
            for a in data.get("agents", [])]  # fmt: skip
    table(("Agent", "AQS", "Runs", "Tests", "Latest run", "Date"), rows, title="Agents")
