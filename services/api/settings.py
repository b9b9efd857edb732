"""Settings of the combined API process: the union of the services it hosts."""

from __future__ import annotations

from services.ingest.settings import IngestSettings
from services.query.settings import QuerySettings


class ApiSettings(IngestSettings, QuerySettings):
    pass
