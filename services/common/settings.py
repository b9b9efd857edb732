"""Settings shared by every service. Each service subclasses ``CommonSettings`` once.

Names are a public contract (INVARIUM_PORT, INVARIUM_DATA_DIR, REDIS_URL,
INVARIUM_API_KEYS, INVARIUM_BASE_URL); add settings, never rename them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.auth import KeyRing

API_KEYS_FILE = "api-keys"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INVARIUM_", extra="ignore", frozen=True)

    port: int = Field(default=8000, ge=1, le=65535)
    host: str = "127.0.0.1"
    data_dir: Path = Path("./data")
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", validation_alias=AliasChoices("REDIS_URL", "INVARIUM_REDIS_URL")
    )
    api_keys: str = Field(default="", repr=False, description="key:role pairs, comma-separated")
    base_url: str = ""
    mcp_rest_url: str = Field(
        default="",
        description="Where the MCP tools at /mcp call the REST routes; empty: in process, into the app that hosts "
        "/mcp (the combined API). Set it when /mcp runs in a process without every route, e.g. http://gateway:8000",
    )
    stream_partitions: int = Field(default=1, ge=1, le=1024)
    scorer_group: str = "scorer"

    @field_validator("base_url", "mcp_rest_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def public_base_url(self) -> str:
        return self.base_url or f"http://localhost:{self.port}"

    def keyring(self) -> KeyRing:
        """Keys from INVARIUM_API_KEYS, else from ``<data_dir>/api-keys`` (written by ``make up``)."""
        spec = self.api_keys
        keys_file = self.data_dir / API_KEYS_FILE
        if not spec.strip() and keys_file.is_file():
            spec = ",".join(line.strip() for line in keys_file.read_text().splitlines() if line.strip())
        return KeyRing.parse(spec)

    def required_keyring(self) -> KeyRing:
        """The keyring of a service that serves HTTP: auth is always on, so no keys means no start."""
        keyring = self.keyring()
        if not len(keyring):
            raise SystemExit(
                "No API keys configured: set INVARIUM_API_KEYS (e.g. 'key1:admin,key2:member') "
                f"or run `make up`, which writes one to {self.data_dir / API_KEYS_FILE}"
            )
        return keyring
