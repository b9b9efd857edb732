"""How every HTTP service here is run (uvicorn, uvloop, httptools)."""

from __future__ import annotations

import gc
import logging
import os

import uvicorn
from fastapi import FastAPI

from services.common.settings import CommonSettings


def serve(app: FastAPI, settings: CommonSettings, *, access_log: bool = False) -> None:
    """Run ``app`` with uvicorn the way every HTTP service here runs."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if os.environ.get("INVARIUM_DEBUG"):  # as for the scorer: the services' own timings
        logging.getLogger("invarium").setLevel(logging.DEBUG)
    # A 1,000-result sync allocates ~100k short-lived, acyclic objects; the default gen-0
    # threshold (700) would run the collector ~150 times per request for nothing.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=getattr(settings, "access_log", access_log),
        log_level="info",
        timeout_graceful_shutdown=10,
    )

