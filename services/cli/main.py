"""``invarium``: one entry point for the command line.

Reads ``INVARIUM_BASE_URL`` (default http://localhost:8000) and ``INVARIUM_API_KEY`` (or
``--base-url`` / ``--api-key``). Tables on stdout, ``--json`` for machines; progress and errors go
to stderr, errors with the server's message and a non-zero exit code. Commands live in
``read_cmds`` and ``write_cmds``; all of them go through ``services.client.InvariumClient``.
"""

from __future__ import annotations

import sys

from services.cli import read_cmds, write_cmds  # noqa: F401  (registers the commands)
from services.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="invarium")


if __name__ == "__main__":
    sys.exit(main())
