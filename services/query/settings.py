"""The query service's settings (one class, built once and passed in)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class QuerySettings(CommonSettings):
    query_threads: int = Field(default=2, ge=1, le=64, description="DuckDB threads of the query process")
    query_memory_limit: str = Field(default="512MB", description="DuckDB memory limit of the query process")
    query_refresh_s: float = Field(
        default=0.1, ge=0, le=60, description="How often reads re-check the Delta logs for new scores"
    )
    query_deleted_cache_s: float = Field(
        default=0.25, ge=0, le=60, description="How long the set of deleted runs read from Redis is reused"
    )
    session_ttl_s: int = Field(
        default=12 * 3600, ge=60, le=30 * 86400, description="How long a dashboard sign-in lasts (seconds)"
    )
