"""Entrypoint: ``python -m services.ingest`` (what docker-compose and ``make up`` run)."""

from __future__ import annotations

import logging

import uvicorn

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = IngestSettings()
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=settings.access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
