"""Streamable HTTP transport: the MCP endpoint at ``/mcp`` on the API's own port.

The caller's API key is the ``Authorization: Bearer`` header of the MCP HTTP request; the tools
forward it unchanged to the REST routes, so the MCP endpoint has exactly the caller's rights and
the same error texts (a missing or wrong key reads ``Authentication failed: invalid API key``).

By default the REST calls do not leave the process: they go through an in-process ASGI transport
into the same FastAPI app (the combined API of ``make up`` hosts every route), so they work behind
any proxy or gateway (no dependence on the public URL being reachable from inside the container)
and cost no socket hop. Where /mcp is hosted by a process that lacks some routes (docker-compose
routes /mcp to the query container, while syncs and re-scores live in ingest), set
INVARIUM_MCP_REST_URL to a URL that reaches every route (the gateway, e.g. http://gateway:8000).
Links in the answers use the public base URL (INVARIUM_BASE_URL) either way: the REST answers carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings

from services.client import InvariumClient
from services.common.http import chain_lifespan
from services.common.settings import CommonSettings
from services.mcp.server import build_server

MCP_PATH = "/mcp"


def bearer_key(headers: Mapping[str, str] | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (or ``X-API-Key``), else None."""
    if not headers:
        return None
    auth = headers.get("authorization") or headers.get("Authorization") or ""
    scheme, _, key = auth.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return headers.get("x-api-key") or headers.get("X-API-Key") or None


def transport_security(settings: CommonSettings) -> TransportSecuritySettings | None:
    """DNS-rebinding protection when bound to loopback (the SDK's default), also admitting the public
    host of INVARIUM_BASE_URL so a reverse proxy in front of a loopback-bound API still works.
    Bound to all interfaces, the gateway in front decides which hosts reach it."""
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        return None
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if settings.base_url:
        public = urlsplit(settings.base_url)
        if public.hostname:
            hosts += [public.netloc, public.hostname, f"{public.hostname}:*"]
            origins.append(f"{public.scheme}://{public.netloc}")
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def rest_clients(app: FastAPI, settings: CommonSettings) -> Callable[[Context], InvariumClient]:
    """A REST client per tool call, carrying the MCP request's own API key."""
    if settings.mcp_rest_url:
        return lambda ctx: InvariumClient(settings.mcp_rest_url, bearer_key(ctx.headers), retries=0)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return lambda ctx: InvariumClient(settings.public_base_url, bearer_key(ctx.headers), transport=transport, retries=0)


def install(app: FastAPI, settings: CommonSettings) -> MCPServer:
    """Add the MCP endpoint to ``app`` and run its session manager inside the app's lifespan."""
    server = build_server(rest_clients(app, settings))
    # Stateless: any API worker or replica can answer any request (no session affinity needed).
    starlette = server.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=True, json_response=True, host=settings.host,
        transport_security=transport_security(settings),
        # a 1,000-result invarium_sync_results is as large as a REST sync: same limit
        max_request_body_size=getattr(settings, "max_body_bytes", DEFAULT_MAX_REQUEST_BODY_SIZE),
    )
    app.router.routes.extend(starlette.routes)  # the exact path /mcp, without a mount's trailing-slash redirect
    chain_lifespan(app, lambda _: server.session_manager.run())
    app.state.mcp = server
    return server
