"""Commands that write: ``sync``, ``delete``, ``rescore``, ``dead-letters``; and ``mcp`` (stdio)."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from schemas.wire import MAX_RESULTS_PER_SYNC
from services.cli import parsers
from services.cli.common import JsonOption, app, connection, err, fail, out, print_json, run, table
from services.client import InvariumClient
from services.mcp import text

_BAR = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def detect_source(env: dict[str, str] | None = None) -> str:
    """``ci`` in a CI environment (``CI=true``, as GitHub Actions, GitLab CI and most others set), else ``cli``."""
    value = (os.environ if env is None else env).get("CI", "").strip().lower()
    return "ci" if value in ("true", "1", "yes") else "cli"


@app.command()
def sync(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                       help="JSON, JSONL or JUnit XML result files"),
    agent: str = typer.Option(..., "--agent", help="Agent name"),
    run_id: str = typer.Option(None, "--run", help="Append to this existing run (default: create a new run)"),
    complete: bool = typer.Option(None, "--complete/--no-complete",
                                  help="Mark the run finished after the last batch [default: on for a new run]"),
    batch_size: int = typer.Option(MAX_RESULTS_PER_SYNC, "--batch-size", min=1, max=MAX_RESULTS_PER_SYNC),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """Sync result files (split into requests of at most 1,000 results, retried with one idempotency key each)."""
    results: list[dict[str, Any]] = []
    skipped = 0
    for path in files:
        try:
            parsed = parsers.load(path)
        except (parsers.ParseError, OSError) as exc:
            fail(str(exc))
        results.extend(parsed.results)
        skipped += parsed.skipped
    if skipped:
        err.print(f"{skipped} skipped test case(s) not synced (no outcome)")
    if not results:
        fail("nothing to sync: the files hold no results")
    source = detect_source()
    finish = complete if complete is not None else run_id is None

    with Progress(*_BAR, console=err, transient=False, disable=json_out and not err.is_terminal) as bar:
        task = bar.add_task(f"sync {agent}", total=len(results))

        async def go(client: InvariumClient):
            return await client.sync_all(agent, results, test_run_id=run_id, source=source, complete=finish,
                                         batch_size=batch_size, on_batch=lambda n: bar.advance(task, n))  # fmt: skip

        summary = run(ctx, go)
    data = summary.as_dict() | {"source": source, "skipped": skipped}
    if json_out:
        print_json(data)
    else:
        out(text.synced(data))


@app.command()
def delete(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., metavar="RUN", help="Test run id"),
    agent: str = typer.Option(..., "--agent", help="Agent name"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation"),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """Delete a test run with its results and traces (admin key); it disappears from every read at once."""
    if not yes:
        if not sys.stdin.isatty():
            fail("refusing to delete without confirmation: pass --yes")
        typer.confirm(f"Delete test run {run_id} of agent {agent}?", abort=True)
    data = run(ctx, lambda c: c.delete_run(agent, run_id))
    if json_out:
        print_json(data)
    else:
        out(f"deleted test run {data.get('test_run_id', run_id)} (agent {data.get('agent_name', agent)})")


@app.command()
def rescore(
    ctx: typer.Context,
    agent: str = typer.Option(None, "--agent", help="Only this agent's runs"),
    runs: list[str] = typer.Option(None, "--run", help="Only these runs (repeatable)"),
    since: datetime = typer.Option(None, help="Runs first synced at or after this time (ISO 8601)"),
    until: datetime = typer.Option(None, help="Runs first synced before this time (ISO 8601)"),
    wait: bool = typer.Option(True, help="Follow the job with a progress bar until it ends"),
) -> None:  # fmt: skip
    """Re-score with the current algorithm (admin key); old scores stay visible until the switch."""
    body = {"agent_name": agent, "test_run_ids": runs or [], "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None}  # fmt: skip

    async def go(client: InvariumClient) -> dict[str, Any]:
        job = await client.start_rescore(body)
        err.print(f"re-score job {job['job_id']} queued")
        if not wait:
            return job
        with Progress(*_BAR, console=err, transient=False) as bar:
            task = bar.add_task("queued", total=None)
            while job["status"] in ("queued", "running"):
                await asyncio.sleep(0.5)
                job = await client.rescore_status(job["job_id"])
                bar.update(task, description=job["phase"] or job["status"], total=job["total"] or None,
                           completed=job["done"])  # fmt: skip
        return job

    job = run(ctx, go)
    if not wait:
        typer.echo(job["job_id"])
        return
    if job["status"] == "failed":
        fail(f"re-score {job['job_id']} failed: {job['error']}")
    typer.echo(f"re-score {job['job_id']} done: {job['done']:,} events, {job['runs']:,} runs")


@app.command("dead-letters")
def dead_letters(
    ctx: typer.Context,
    redrive: bool = typer.Option(False, "--redrive", help="Put every listed dead letter back on its stream"),
    json_out: bool = JsonOption,
) -> None:  # fmt: skip
    """Events the scorer gave up on, with their last error (admin key)."""

    async def go(client: InvariumClient) -> list[dict[str, Any]]:
        letters = await client.dead_letters(1000)
        if redrive:
            for d in letters:
                await client.redrive(d["partition"], d["id"])
        return letters

    letters = run(ctx, go)
    if json_out:
        print_json(letters)
    elif not letters:
        typer.echo("no dead letters")
    else:
        table(("partition", "stream id", "deliveries", "error"),
              [(d["partition"], d["stream_id"], d["deliveries"], d["error"]) for d in letters])  # fmt: skip
    if redrive and letters:
        err.print(f"re-drove {len(letters)} dead letter(s)")


@app.command()
def mcp(ctx: typer.Context) -> None:
    """Serve the MCP tools over stdio (for an IDE's MCP configuration); uses INVARIUM_BASE_URL and INVARIUM_API_KEY."""
    from services.mcp.stdio import run_stdio  # the SDK's server machinery only when needed

    conn = connection(ctx)
    Console(stderr=True).print(f"invarium MCP server (stdio) for {conn.base_url}", highlight=False)
    run_stdio(conn.base_url, conn.api_key)
