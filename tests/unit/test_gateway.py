"""docker-compose's gateway routes each path to the service that serves it (no Docker here:
the nginx rules are checked against the ingest app's own routes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

pytestmark = pytest.mark.unit

CONF = Path(__file__).resolve().parents[2] / "deploy" / "gateway.conf"


def _locations() -> list[tuple[str, str, str]]:
    rules = re.findall(r"location\s+(=|~)?\s*(\S+)\s*\{\s*proxy_pass\s+http://(\w+);", CONF.read_text())
    return [(kind or "prefix", pattern, upstream) for kind, pattern, upstream in rules]


def route(path: str) -> str:
    """nginx's order: an exact match, else the first matching regex, else the longest prefix."""
    rules = _locations()
    for kind, pattern, upstream in rules:
        if kind == "=" and path == pattern:
            return upstream
    for kind, pattern, upstream in rules:
        if kind == "~" and re.search(pattern, path):
            return upstream
    prefixes = [(len(p), u) for k, p, u in rules if k == "prefix" and path.startswith(p)]
    return max(prefixes)[1]


def _sample(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-1", template)


def test_every_ingest_route_goes_to_ingest():
    app = create_app(IngestSettings(api_keys="k0123456789abcdef:admin"))
    paths = [p for p in app.openapi()["paths"] if p.startswith("/v1/")]
    assert paths, "no ingest routes found"
    for path in paths:
        assert route(_sample(path)) == "ingest", path


@pytest.mark.parametrize(
    "path",
    ["/v1/test-runs", "/v1/test-runs/export", "/v1/agents", "/v1/agents/a", "/v1/agents/a/test-runs/tr_1",
     "/v1/agents/a/test-runs/tr_1/results/case-1", "/v1/agents/a/compare", "/mcp", "/docs"],
)  # fmt: skip
def test_reads_deletes_and_mcp_go_to_query(path):
    assert route(path) == "query"
