"""SQL text built from values, for the DuckDB reads of the scorer and the query service."""

from __future__ import annotations


def sql_literal(value: str) -> str:
    """A SQL string literal. Constants (not parameters) let a Parquet scan prune row groups by
    their min/max."""
    return "'" + value.replace("'", "''") + "'"
