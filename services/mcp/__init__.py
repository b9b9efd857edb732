"""MCP server: the seed's ``invarium_*`` tools for IDE agents, a thin client of the REST API."""
