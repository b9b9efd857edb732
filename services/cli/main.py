"""``invarium``: one entry point for the command line.

Reads ``INVARIUM_BASE_URL`` (default http://localhost:8000) and ``INVARIUM_API_KEY``.
Errors go to stderr with the server's message and a non-zero exit code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime

import httpx
import typer
from rich.console import Console
from rich.table import Table
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Invarium self-hosted backend: command line.")
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Invarium self-hosted backend: command line."""


def client() -> httpx.Client:
    base = os.environ.get("INVARIUM_BASE_URL", "http://localhost:8000").rstrip("/")
    key = os.environ.get("INVARIUM_API_KEY", "")
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def call(http: httpx.Client, method: str, path: str, **kwargs) -> dict:
    try:
        resp = http.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {http.base_url}: {exc}")
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        fail(f"{detail} (HTTP {resp.status_code})")
    return resp.json()


@app.command()
def rescore(
    agent: str = typer.Option(None, "--agent", help="Only this agent's runs"),
    run: list[str] = typer.Option(None, "--run", help="Only these runs (repeatable)"),
    since: datetime = typer.Option(None, help="Runs first synced at or after this time (ISO 8601)"),
    until: datetime = typer.Option(None, help="Runs first synced before this time (ISO 8601)"),
    wait: bool = typer.Option(True, help="Follow the job with a progress bar until it ends"),
) -> None:
    """Re-score with the current algorithm (admin key); old scores stay visible until the switch."""
    body = {"agent_name": agent, "test_run_ids": run or [], "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None}  # fmt: skip
    with client() as http:
        job = call(http, "POST", "/v1/rescore", json=body)
        err.print(f"re-score job {job['job_id']} queued")
        if not wait:
            typer.echo(job["job_id"])
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("queued", total=None)
            while job["status"] in ("queued", "running"):
                time.sleep(0.5)
                job = call(http, "GET", f"/v1/rescore/{job['job_id']}")
                bar.update(task, description=job["phase"] or job["status"], total=job["total"] or None,
                           completed=job["done"])  # fmt: skip
    if job["status"] == "failed":
        fail(f"re-score {job['job_id']} failed: {job['error']}")
    typer.echo(f"re-score {job['job_id']} done: {job['done']:,} events, {job['runs']:,} runs")


@app.command("dead-letters")
def dead_letters(
    redrive: bool = typer.Option(False, "--redrive", help="Put every listed dead letter back on its stream"),
    json_out: bool = typer.Option(False, "--json", help="JSON instead of a table"),
) -> None:
    """Events the scorer gave up on, with their last error (admin key)."""
    with client() as http:
        letters = call(http, "GET", "/v1/dead-letters", params={"limit": 1000})["dead_letters"]
        if redrive:
            for d in letters:
                call(http, "POST", f"/v1/dead-letters/{d['partition']}/{d['id']}/redrive")
    if json_out:
        typer.echo(json.dumps(letters, indent=2))
    elif not letters:
        typer.echo("no dead letters")
    else:
        table = Table("partition", "stream id", "deliveries", "error")
        for d in letters:
            table.add_row(str(d["partition"]), d["stream_id"], str(d["deliveries"]), d["error"])
        Console().print(table)
    if redrive and letters:
        err.print(f"re-drove {len(letters)} dead letter(s)")


def main() -> None:
    app(prog_name="invarium")


if __name__ == "__main__":
    sys.exit(main())
