"""Entrypoint: ``python -m services.scorer`` (what docker-compose and ``make up`` run)."""

from __future__ import annotations

import os

# Before anything loads pyarrow: Arrow's allocator (mimalloc) keeps the pages a commit freed for
# 1 s, so the next commit (a few hundred ms later) reuses them instead of faulting (zeroing) them
# in again after the default 10 ms. With -1 (never give them back) a drain faulted a third less,
# but its peak RSS crept up with the stream (fragmentation kept for good): 495 -> 637 MiB over a
# 1M-event drain, against flat at ~535-545 MiB with 1 s.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "1000")

import asyncio  # noqa: E402
import logging  # noqa: E402

from services.scorer.gctuning import quiet_gc  # noqa: E402
from services.scorer.settings import ScorerSettings  # noqa: E402
from services.scorer.worker import build_app  # noqa: E402


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
