"""The worker's maintenance, beside its commits: compaction of the tables, of the run stats, and
the stream trim. A mixin of ``Scorer`` (``worker.py``): it uses the worker's group, tables and
stats-writer lease.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from services.common import streams
from services.common.locks import lease
from services.scorer.tables import Tables

log = logging.getLogger("invarium.scorer")

COMPACTION_NICENESS = 19


class Maintenance:
    """``run_maintenance``: compaction rounds when ``maintenance_due`` is set (every ``compact_every`` commits)."""

    async def run_maintenance(self) -> None:
        """Compaction and trimming in the background: a commit never waits for them."""
        while not self.stopping.is_set():
            await self.maintenance_due.wait()
            self.maintenance_due.clear()
            try:
                await self._compact()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("compaction failed")

    async def _compact(self) -> None:
        """Compact the tables, then trim the stream up to what is acked (so archived).
        One worker at a time (a Redis lock); the others just skip this round."""
        async with lease(self.group.redis, f"{streams.PREFIX}:compaction", blocking=False) as held:
            if held:
                await self._in_child(_compact_tables, str(self.tables.root.parent))
                # run stats to one row per run (small, so in this process): the long read first,
                # then only the fold-in of what is new and the overwrite keep stats writers out
                gen = self.tables.current()
                plan = await asyncio.to_thread(self.tables.plan_stats_compaction, gen)
                if plan is not None:
                    await asyncio.to_thread(plan.catch_up)  # what came during the long read, writers still on
                    async with self._stats_writer():
                        await asyncio.to_thread(self.tables.finish_stats_compaction, gen, plan)
                    await asyncio.to_thread(self.tables.tidy_stats, gen)
                await self.group.trim()

    async def _in_child(self, fn, *args):
        """Run a maintenance step in a fresh child process that exits afterwards. Compaction
        decodes and re-encodes up to a target file's worth of rows; in the worker, the allocator
        kept that high-water mark for good (peak RSS rising with the table until files reached
        their target size). A child returns it all to the system when it exits."""
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        finally:
            # Cancelled (the worker is stopping): end the child instead of waiting for it. An
            # interrupted compaction commits nothing (Delta commits are atomic; vacuum removes
            # its orphan files). After a normal return the child is exiting anyway.
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                if proc.is_alive():
                    proc.terminate()
            pool.shutdown(wait=False, cancel_futures=True)


def _compact_tables(data_dir: str) -> dict[str, int]:
    # below the live path in CPU priority: compaction can wait, freshness cannot
    os.nice(COMPACTION_NICENESS)
    return Tables(Path(data_dir)).compact_tables()
