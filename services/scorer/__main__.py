"""Entrypoint: ``python -m services.scorer`` (what docker-compose and ``make up`` run)."""

from __future__ import annotations

import asyncio
import logging
import os

from services.scorer.gctuning import quiet_gc
from services.scorer.settings import ScorerSettings
from services.scorer.worker import build_app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if os.environ.get("INVARIUM_DEBUG"):
        logging.getLogger("invarium").setLevel(logging.DEBUG)
    logging.getLogger("faststream").setLevel(logging.WARNING)  # no per-batch "Received/Processed" lines
    settings = ScorerSettings()
    app, _ = build_app(settings)
    quiet_gc()
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
