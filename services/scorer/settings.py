"""The scorer's settings (one class, built once at start-up)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class ScorerSettings(CommonSettings):
    consumer: str = Field(default="", description="Consumer name in the group; default <hostname>-<pid>")
    batch_size: int = Field(default=2000, ge=1, le=20_000, description="Entries per XREADGROUP (one commit each)")
    claim_idle_ms: int = Field(default=30_000, ge=100, description="Pending entries idle this long are reclaimed")
    claim_interval_s: float = Field(default=5.0, gt=0)
    max_deliveries: int = Field(default=5, ge=1, description="Tries before an entry goes to the dead-letter stream")
    compact_every: int = Field(default=50, ge=1, description="Commits between compactions of the tables")
    max_commit_entries: int = Field(default=10_000, ge=1, le=100_000,
                                    description="Queued batches are merged into one commit up to this many entries")
    min_commit_interval_s: float = Field(default=0.25, ge=0, description="Batches arriving sooner are merged into one commit")
    stats_interval_s: float = Field(default=0.1, gt=0, description="Run stats are refreshed at most this often")
    read_linger_s: float = Field(default=0.05, ge=0, le=1,
                                 description="After a small read, wait this long before the next XREADGROUP")
    poll_ms: int = Field(default=100, ge=1, description="XREADGROUP block time")
