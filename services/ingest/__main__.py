"""Entrypoint: ``python -m services.ingest`` (what docker-compose and ``make up`` run)."""

from __future__ import annotations

from services.ingest.app import create_app
from services.common.serve import serve
from services.ingest.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
