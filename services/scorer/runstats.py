"""Run stats: per-run aggregates (counts, failure breakdown, BSS/AQS, cost, tokens, duration)
recomputed from the results snapshot for the runs a commit touched, appended with the results
version they saw (``as_of``; readers take the latest row per run), and compacted to one row per
run. A mixin of ``Tables``: it uses its table handles and generations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from services.common.delta import local_files, upgrade
from services.common.reduced import LATEST_PER_RUN, LATEST_STATS, Reduced
from services.common.sqltext import sql_literal
from services.scorer.core.aggregates import (
    _TAIL_SQL,
    AGGREGATE_NAMES,
    PARTS_SCHEMA,
    RUN_STATS_SCHEMA,
    TAIL_SCHEMA,
    arrow_parts,
    merge_parts,
)
from services.scorer.core.scoring import scores_from_sums
from services.scorer.duck import duck as _duck
from services.scorer.folds import Fold, Mark, Run, fold_marks_table, folds_from, folds_table, marks_table
from services.scorer.pruning import files_since

if TYPE_CHECKING:
    from services.scorer.tables import Generation

# Files a compaction replaced stay this long, so a reader still on an older snapshot can finish.
VACUUM_RETENTION_H = 1


class RunStatsMixin:
    """The run-stats part of ``Tables``."""

    def refresh_stats(self, runs: Iterable[tuple[str, str]], *, gen: Generation | None = None,
                      marks: dict[int, Mark] | None = None, folds: dict[Run, Fold] | None = None) -> dict[Run, Fold]:
        """Recompute the aggregates of ``runs`` and append them; returns their new folds.

        Without ``marks`` every row of the runs is read (a full recompute: re-scores, tests). With
        the consumer group's settled ``marks`` (read *before* this call) and the runs' ``folds``,
        only rows logged at or after each fold's marks are read (``folds``). Rows carry the results
        version they were computed at (``as_of``); readers take the latest per run, so concurrent
        workers can never leave a stale row on top.
        """
        gen = gen or self.current()
        dt = self._handle(gen.path("results"), "stats")
        stats, new_folds = self.compute_stats(runs, gen=gen, marks=marks, folds=folds, dt=dt)
        if stats.num_rows:
            self.append_stats(gen, stats, dt.version() if dt is not None else -1)
        return new_folds if marks else {}

    def compute_stats(self, runs: Iterable[tuple[str, str]], *, gen: Generation, marks: dict[int, Mark] | None,
                      folds: dict[Run, Fold] | None, dt: DeltaTable | None, extra: pa.Table | None = None,
                      purpose: str = "stats") -> tuple[pa.Table, dict[Run, Fold]]:  # fmt: skip
        """The stats rows of ``runs`` (without ``as_of``) from the results snapshot ``dt``, plus the
        rows of ``extra`` (a batch not yet in that snapshot, e.g. being committed right now), and
        the runs' new folds (never of ``extra``'s rows: they are not acknowledged yet)."""
        runs = sorted(set(runs))
        if not runs:
            return RUN_STATS_SCHEMA.empty_table(), {}
        marks = marks or {}
        folds = {r: f for r, f in (folds or {}).items() if len(f.values) == len(AGGREGATE_NAMES)}
        files = self._files_for(gen, dt, runs, folds, purpose) if dt is not None else []
        wanted = pa.table({"agent": pa.array([a for a, _ in runs], pa.string()), "run": pa.array([r for _, r in runs], pa.string())})
        tails = [TAIL_SCHEMA.empty_table()]  # (agent, run, partition, settled, aggregates) groups
        if files:
            with _duck("fold_marks", "marks") as con:
                con.register("fold_marks", fold_marks_table(folds))
                con.register("marks", marks_table(marks))
                # constant IN lists, so the Parquet scan can skip row groups by their min/max stats
                prune = (f"agent IN ({', '.join(sorted({sql_literal(a) for a, _ in runs}))}) "
                         f"AND run IN ({', '.join(sorted({sql_literal(r) for _, r in runs}))})")  # fmt: skip
                sql = _TAIL_SQL.replace("{source}", "read_parquet($files)").replace("{prune}", prune)
                tails.append(con.sql(sql, params={"files": files}).to_arrow_table().cast(TAIL_SCHEMA))
        if extra is not None and extra.num_rows:
            # The batch being committed: its entries are pending, so its rows are neither settled
            # nor in any fold. Aggregated in memory (Arrow): under a steady trickle most runs of a
            # batch are new, no file can hold their rows, and no DuckDB query is needed at all.
            part = arrow_parts(extra, ["agent", "run", "partition"])
            part = part.add_column(3, "settled", pa.array(np.zeros(part.num_rows, bool)))
            tails.append(part.cast(TAIL_SCHEMA))
        tail = pa.concat_tables(tails)
        settled = tail["settled"]
        seen = set(zip(tail["agent"].to_pylist(), tail["run"].to_pylist(), tail["partition"].to_pylist()))
        tail = tail.drop_columns(["partition", "settled"])
        held = folds_table(folds, PARTS_SCHEMA)
        new_folds = folds_from(merge_parts(pa.concat_tables([held, tail.filter(settled)]), wanted), folds, marks, seen)
        stats = merge_parts(pa.concat_tables([held, tail]), wanted)
        sums = (np.nan_to_num(stats[c].to_numpy(zero_copy_only=False).astype(float))
                for c in ("score_scored", "score_cost", "score_weight", "score_passed_weight"))  # fmt: skip
        bss, aqs = scores_from_sums(*sums)
        stats = stats.append_column("bss", pa.array(bss)).append_column("aqs", pa.array(aqs))
        return stats, new_folds

    def append_stats(self, gen: Generation, stats: pa.Table, as_of: int) -> None:
        """Append stats rows computed from the results as of version ``as_of``."""
        stats = stats.append_column("as_of", pa.array([as_of] * stats.num_rows, pa.int64()))
        self._append(gen.path("run_stats"), stats.select(RUN_STATS_SCHEMA.names).cast(RUN_STATS_SCHEMA), "stats")

    def _files_for(self, gen: Generation, dt: DeltaTable, runs: list[tuple[str, str]],
                   folds: dict[Run, Fold] | None = None, purpose: str = "stats") -> list[str]:  # fmt: skip
        """The results files that can hold the rows of ``runs`` still to be read (``pruning``):
        from each run's fold marks, else from its ``RunCreated``; all files if one is unknown."""
        folds = folds or {}
        fresh = [r for r in runs if r not in folds]
        unknown = self.run_starts.missing(fresh)
        if unknown:
            events = self._handle(gen.path("run_events"), purpose)
            event_files = local_files(events) if events is not None else []
            if event_files:
                with _duck("wanted") as con:
                    con.register("wanted", pa.table({"agent": [a for a, _ in unknown], "run": [r for _, r in unknown]}))
                    self.run_starts.learn(con.sql(
                        "SELECT e.agent, e.run, min(e.stream_id) FROM read_parquet($files) e "
                        "JOIN wanted w ON e.agent = w.agent AND e.run = w.run WHERE e.type = 'RunCreated' "
                        "GROUP BY e.agent, e.run", params={"files": event_files}).fetchall())  # fmt: skip
        floors = [folds[r].floor_ms() for r in runs if r in folds]
        if fresh:
            start = self.run_starts.floor(fresh)
            if start is None:
                return local_files(dt)
            floors.append(start)
        return files_since(pa.table(dt.get_add_actions(flatten=True)), dt.table_uri, min(floors))

    def compact_stats(self, gen: Generation | None = None) -> None:
        """Keep one row per run (the latest). Callers must keep stats writers out during
        ``finish_stats_compaction`` (a read of what is new, then an overwrite)."""
        gen = gen or self.current()
        plan = self.plan_stats_compaction(gen)
        if plan is not None:
            self.finish_stats_compaction(gen, plan)
            self.tidy_stats(gen)

    def plan_stats_compaction(self, gen: Generation) -> StatsPlan | None:
        """The long part, with stats writers still running: the latest row per run as of now."""
        stats = gen.table("run_stats")
        if stats is None or len(stats.file_uris()) <= 1:
            return None
        plan = StatsPlan(stats)
        plan.catch_up()
        return plan

    def finish_stats_compaction(self, gen: Generation, plan: StatsPlan) -> None:
        """The short part, with stats writers kept out: fold in the rows appended since the plan
        (appends only add files; ``plan.catch_up`` beforehand leaves few), then overwrite the
        table with one row per run, on the plan's open table (no second load of its log)."""
        plan.catch_up()
        write_deltalake(plan.table, plan.latest.rows, mode="overwrite")

    def tidy_stats(self, gen: Generation) -> None:
        """Checkpoint and vacuum: safe beside concurrent appends."""
        stats = gen.table("run_stats")
        if stats is not None:
            upgrade(stats, gen.path("run_stats"))
            stats.create_checkpoint()
            stats.vacuum(retention_hours=VACUUM_RETENTION_H, enforce_retention_duration=False, dry_run=False)


class StatsPlan:
    """A run-stats compaction in progress: the open table and the latest row per run of the
    files read so far (``Reduced``: each catch-up reads only the files appended since)."""

    def __init__(self, table: DeltaTable) -> None:
        self.table = table
        self.latest = Reduced(RUN_STATS_SCHEMA, LATEST_STATS)

    def catch_up(self) -> None:
        """Read the files appended since: once beside the writers, then once more (a file or
        two) with them kept out, just before the overwrite."""
        self.table.update_incremental()
        self.latest.follow(self.table)


def latest_stats(files: list[str]) -> pa.Table:
    with _duck() as con:
        return con.sql(
            f"SELECT * FROM read_parquet($files) QUALIFY {LATEST_PER_RUN}",
            params={"files": files},
        ).to_arrow_table().cast(RUN_STATS_SCHEMA)
