"""Run stats of the live path: beside each commit when the worker is caught up, else by refresh.

A mixin of ``Scorer`` (``worker.py``): it uses the worker's group, tables, settings and stats
lock. The stats rows themselves are computed by ``Tables`` (``runstats.py``) from folds
(``folds.py``); the stats-writer lease keeps the run-stats compaction and re-score rewrites out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import pyarrow as pa
from deltalake import DeltaTable

from services.common.locks import lease
from services.scorer.consumer import STATS_WRITER
from services.scorer.core.project import Projection
from services.scorer.tables import Generation, Tables

log = logging.getLogger("invarium.scorer")

BEHIND_REFRESH_SPACING = 8  # behind a backlog: seconds between refreshes per second a refresh took


class LiveStats:
    """``refresh_stats`` (dirty runs, any worker) and the inline stats of ``Scorer._commit``."""

    async def _stats_before(self, gen: Generation, proj: Projection) -> InlineStats | None:
        """What the batch's stats start from, read before its commit: the marks, then the results
        snapshot (the batch's entries are pending, so above the marks). None when more than a
        batch waits in the stream."""
        runs = sorted(proj.runs)
        self.tables.run_starts.record(proj.run_events)  # its new runs: their files are the newest
        marks, lag = await self.group.marks_and_lag()
        self.behind = lag > self.settings.batch_size
        if self.behind:
            log.debug("inline stats skipped: %d entries wait in the stream", lag)
            return None
        epoch = await self.group.stats_epoch(gen.root.name)
        folds = await self.group.folds(gen.root.name, epoch, runs)  # facts: any time before the compute
        dt = await asyncio.to_thread(self.tables._handle, gen.path("results"), "inline")
        return InlineStats(gen, runs, epoch, folds, marks, dt, dt.version() if dt is not None else None)

    async def _stats_after(self, gen: Generation, inline: InlineStats, after: int | None) -> frozenset:
        """Append the inline stats when they are exactly the results as of the batch's commit
        (nobody changed the rows between the snapshot and it: no commit, or only compactions;
        no re-score began): the runs they cover."""
        if inline.version is None or after is None or after <= inline.version or inline.stats is None or (
                after != inline.version + 1 and not await asyncio.to_thread(
                    self.tables.only_compacted, gen, inline.version, after)):  # fmt: skip
            log.debug("inline stats dropped: snapshot %s, our commit %s", inline.version, after)
            return frozenset()
        async with self._stats_writer():
            if await self.group.stats_epoch(gen.root.name) != inline.epoch:
                log.debug("inline stats dropped: a re-score began")
                return frozenset()
            await asyncio.to_thread(self.tables.append_stats, gen, inline.stats, after)
        await self.group.save_folds(gen.root.name, inline.epoch, inline.folds_after)
        return frozenset(inline.runs)

    async def refresh_stats(self, *, force: bool = False) -> None:
        """Recompute the run stats of dirty runs (any worker may; it is idempotent). Runs beside
        the committer, in its own thread with its own table handles. Reads only what each run
        logged since its fold (``services/scorer/folds.py``); the settled marks are read first."""
        if not force and time.monotonic() - self.stats_at < self.stats_gap():
            return
        async with self._stats_lock, self._stats_writer():
            self.stats_at = time.monotonic()
            try:
                await self._refresh_dirty()
            finally:
                self.stats_cost = time.monotonic() - self.stats_at

    def stats_gap(self) -> float:
        """Seconds between refreshes: ``stats_interval_s``; behind a backlog, at least
        ``BEHIND_REFRESH_SPACING`` times what the last one took, so refreshes take at most an
        eighth of the time (a refresh then covers every run in flight, ~1 s for 700 runs while
        both cores drain the stream, and back to back they slowed the drain; at a third of the
        time they still took ~9 % of a draining worker's CPU). Caught up, the stats go with the
        commits, and a refresh only covers what could not: it must not wait."""
        return max(self.settings.stats_interval_s, BEHIND_REFRESH_SPACING * self.stats_cost if self.behind else 0.0)

    async def _refresh_dirty(self) -> None:
        runs = await self.group.dirty_runs()
        if not runs:
            return
        t0 = time.perf_counter()
        gen = self.tables.current()
        epoch = await self.group.stats_epoch(gen.root.name)
        ordered = sorted(runs)
        folds = await self.group.folds(gen.root.name, epoch, ordered)
        marks = await self.group.settled_marks()
        new = await asyncio.to_thread(self.tables.refresh_stats, ordered, gen=gen, marks=marks, folds=folds)
        await self.group.save_folds(gen.root.name, epoch, new)
        await self.group.clean_runs(runs)
        log.debug("refreshed stats of %d runs in %.0f ms (%d folded before)", len(runs),
                  (time.perf_counter() - t0) * 1e3, len(folds))  # fmt: skip

    def _stats_writer(self):
        """A Redis lock every writer of run stats takes: the stats compaction (a read, then an
        overwrite) must not lose rows another worker appends in between, and a re-score's
        rewrite of rows must not interleave with a refresh that folds them."""
        return lease(self.group.redis, STATS_WRITER)


@dataclass
class InlineStats:
    """The stats of a batch's runs, computed beside its commit (``Scorer._commit``)."""

    gen: Generation
    runs: list[tuple[str, str]]
    epoch: int
    folds: dict
    marks: dict
    dt: DeltaTable | None
    version: int | None
    stats: pa.Table | None = None
    folds_after: dict = field(default_factory=dict)

    def compute(self, tables: Tables, proj: Projection) -> None:
        self.stats, self.folds_after = tables.compute_stats(self.runs, gen=self.gen, marks=self.marks, folds=self.folds,
                                                            dt=self.dt, extra=proj.results, purpose="inline")  # fmt: skip
