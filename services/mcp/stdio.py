"""stdio transport (``invarium mcp``): the IDE spawns the process; base URL and key come from the env."""

from __future__ import annotations

from services.client import InvariumClient
from services.mcp.server import build_server


def run_stdio(base_url: str, api_key: str | None) -> None:
    """Serve the tools over stdin/stdout until the client closes them. Nothing else touches stdout."""
    server = build_server(lambda _ctx: InvariumClient(base_url, api_key))
    server.run("stdio")
