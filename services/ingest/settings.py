"""The ingest service's settings (one class, built once in ``bootstrap``)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="Largest accepted request body")
    max_backlog: int = Field(
        default=2_000_000, ge=1, description="Unconsumed events per partition above which ingest answers 429"
    )
    redact_pii: bool = True
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)
    dedupe_retention_s: int = Field(
        default=30 * 24 * 3600, ge=3600, description="How long a run's result ids are kept for retry dedupe"
    )
    access_log: bool = False
