"""What every ``invarium`` command shares: the Typer app, the connection options, running a call
through ``InvariumClient``, and output (rich tables on stdout, JSON with ``--json``, errors and
progress on stderr)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from services.client import DEFAULT_BASE_URL, InvariumClient, InvariumError
from services.mcp.params import ParamError

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Invarium self-hosted backend: command line.")
err = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="JSON on stdout instead of a table")


@dataclass(frozen=True)
class Connection:
    base_url: str
    api_key: str | None

    def client(self) -> InvariumClient:
        return InvariumClient(self.base_url, self.api_key)


@app.callback()
def _root(
    ctx: typer.Context,
    base_url: str = typer.Option(DEFAULT_BASE_URL, "--base-url", envvar="INVARIUM_BASE_URL",
                                 help="Backend URL"),
    api_key: str = typer.Option("", "--api-key", envvar="INVARIUM_API_KEY", show_default=False,
                                help="API key (never printed)"),
) -> None:  # fmt: skip
    """Invarium self-hosted backend: command line."""
    ctx.obj = Connection(base_url.rstrip("/"), api_key or None)


def connection(ctx: typer.Context) -> Connection:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Connection) else Connection(DEFAULT_BASE_URL, None)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def run(ctx: typer.Context, call: Callable[[InvariumClient], Awaitable[T]]) -> T:
    """Run ``call(client)`` on a fresh client; server errors end the command with their message."""

    async def go() -> T:
        async with connection(ctx).client() as client:
            return await call(client)

    try:
        return asyncio.run(go())
    except InvariumError as exc:
        fail(exc.detail + (f" (HTTP {exc.status})" if exc.status else ""))
    except ParamError as exc:
        fail(str(exc))


def checked(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ParamError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def score(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    t = Table(*columns, title=title, title_justify="left")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    Console().print(t)


def out(text: str) -> None:
    """Plain text to stdout (no markup interpretation of server text)."""
    sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
