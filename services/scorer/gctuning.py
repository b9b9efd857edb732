"""Cyclic-GC settings for the processes that run the projection (the worker, re-score processes).

The projection allocates many short-lived containers, all freed by reference counting; with
the default thresholds the cyclic collector ran every 700 allocations and its full passes over
the heap cost ~25% of the worker's CPU. Start-up objects are moved out of its sight, and are
handed back at exit so the interpreter's shutdown finalises them (else nanobind reports leaks).
"""

from __future__ import annotations

import atexit
import gc

THRESHOLDS = (100_000, 50, 1000)


def quiet_gc() -> None:
    """Call once start-up is done."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    atexit.register(gc.unfreeze)
