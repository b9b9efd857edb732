"""The API process ``make up`` runs: the ingest routes, the query routes and the MCP endpoint, in
one FastAPI app on INVARIUM_PORT, so one INVARIUM_BASE_URL reaches them all.
docker-compose runs the same services as separate containers behind a path-routing gateway."""

from __future__ import annotations

from fastapi import FastAPI

from services.api.settings import ApiSettings
from services.ingest.app import create_app as create_ingest_app
from services.mcp.http import install as install_mcp
from services.query.app import install as install_query


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    app = create_ingest_app(settings)
    app.title = "Invarium API"
    app.summary = "Ingest, query and MCP for behavioural test runs of AI agents."
    install_query(app, settings)
    install_mcp(app, settings)  # streamable HTTP MCP at /mcp; its tools call this app's REST routes in-process
    return app
