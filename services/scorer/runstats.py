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

from services.common.delta import local_files
from services.scorer.core.project import RESULTS_SCHEMA
from services.scorer.core.scoring import scores_from_sums
from services.scorer.duck import duck as _duck
from services.scorer.duck import sql_literal as _sql
from services.scorer.pruning import files_since

if TYPE_CHECKING:
    from services.scorer.tables import Generation

# Files a compaction replaced stay this long, so a reader still on an older snapshot can finish.
VACUUM_RETENTION_H = 1

RUN_STATS_SCHEMA = pa.schema(
    [("agent", pa.string()), ("run", pa.string()), ("as_of", pa.int64()), ("total", pa.int64()),
     ("passed", pa.int64()), ("failed", pa.int64()), ("errors", pa.int64()), ("tool_usage", pa.int64()),
     ("knowledge", pa.int64()), ("safety", pa.int64()), ("runtime", pa.int64()), ("other_failures", pa.int64()),
     ("critical", pa.int64()), ("high", pa.int64()), ("medium", pa.int64()), ("low", pa.int64()),
     ("score_scored", pa.float64()), ("score_cost", pa.float64()), ("score_weight", pa.float64()),
     ("score_passed_weight", pa.float64()), ("bss", pa.float64()), ("aqs", pa.float64()),
     ("cost_usd", pa.float64()), ("cost_complete", pa.bool_()), ("duration_ms", pa.float64()),
     ("input_tokens", pa.int64()), ("output_tokens", pa.int64()), ("first_synced_at", pa.timestamp("us", tz="UTC")),
     ("last_synced_at", pa.timestamp("us", tz="UTC")), ("algorithm_version", pa.string())]
)  # fmt: skip

_STATS_SQL = """
SELECT w.agent, w.run, count(r.result_id) AS total,
  count(*) FILTER (r.status = 'passed') AS passed, count(*) FILTER (r.status = 'failed') AS failed,
  count(*) FILTER (r.status = 'error') AS errors,
  count(*) FILTER (r.status = 'failed' AND r.failure_category = 'tool_usage') AS tool_usage,
  count(*) FILTER (r.status = 'failed' AND r.failure_category = 'knowledge') AS knowledge,
  count(*) FILTER (r.status = 'failed' AND r.failure_category = 'safety') AS safety,
  count(*) FILTER (r.status = 'error') AS runtime,
  count(*) FILTER (r.status = 'failed' AND coalesce(r.failure_category, '') NOT IN ('tool_usage', 'knowledge', 'safety'))
    AS other_failures,
  count(*) FILTER (r.severity = 'critical') AS critical, count(*) FILTER (r.severity = 'high') AS high,
  count(*) FILTER (r.severity = 'medium') AS medium, count(*) FILTER (r.severity = 'low') AS low,
  coalesce(sum(r.score_scored), 0) AS score_scored, coalesce(sum(r.score_cost), 0) AS score_cost,
  coalesce(sum(r.score_weight), 0) AS score_weight, coalesce(sum(r.score_passed_weight), 0) AS score_passed_weight,
  coalesce(sum(r.cost_usd), 0) AS cost_usd, coalesce(bool_and(r.cost_known), true) AS cost_complete,
  coalesce(sum(r.duration_ms), 0) AS duration_ms, coalesce(sum(r.input_tokens), 0) AS input_tokens,
  coalesce(sum(r.output_tokens), 0) AS output_tokens, min(r.synced_at) AS first_synced_at,
  max(r.synced_at) AS last_synced_at, max(r.algorithm_version) AS algorithm_version
FROM wanted w LEFT JOIN (SELECT * FROM {source} WHERE {prune}) r ON r.agent = w.agent AND r.run = w.run
GROUP BY w.agent, w.run
"""


class RunStatsMixin:
    """The run-stats part of ``Tables``."""

    def refresh_stats(self, runs: Iterable[tuple[str, str]], *, gen: Generation | None = None) -> None:
        """Recompute the aggregates of ``runs`` from the results snapshot and append them.

        Rows carry the results version they were computed at (``as_of``); readers take the
        latest per run, so concurrent workers can never leave a stale row on top.
        """
        runs = sorted(set(runs))
        gen = gen or self.current()
        if not runs:
            return
        dt = self._handle(gen.path("results"), "stats")
        version, files = (dt.version(), self._files_for(gen, dt, runs)) if dt is not None else (-1, [])
        with _duck("wanted", "empty_results") as con:
            con.register("wanted", pa.table({"agent": [a for a, _ in runs], "run": [r for _, r in runs]}))
            con.register("empty_results", RESULTS_SCHEMA.empty_table())
            source = "read_parquet($files)" if files else "(SELECT * FROM empty_results)"
            # constant IN lists, so the Parquet scan can skip row groups by their min/max stats
            prune = f"agent IN ({', '.join(sorted({_sql(a) for a, _ in runs}))}) AND run IN ({', '.join(sorted({_sql(r) for _, r in runs}))})"
            sql = _STATS_SQL.replace("{source}", source).replace("{prune}", prune)
            stats = con.sql(sql, params={"files": files} if files else None).to_arrow_table()
        sums = (np.nan_to_num(stats[c].to_numpy(zero_copy_only=False).astype(float))
                for c in ("score_scored", "score_cost", "score_weight", "score_passed_weight"))  # fmt: skip
        bss, aqs = scores_from_sums(*sums)
        stats = stats.append_column("bss", pa.array(bss)).append_column("aqs", pa.array(aqs))
        stats = stats.append_column("as_of", pa.array([version] * stats.num_rows, pa.int64()))
        self._append(gen.path("run_stats"), stats.select(RUN_STATS_SCHEMA.names).cast(RUN_STATS_SCHEMA), "stats")

    def _files_for(self, gen: Generation, dt: DeltaTable, runs: list[tuple[str, str]]) -> list[str]:
        """The results files that can hold rows of ``runs`` (``pruning``): all of them unless
        every run's ``RunCreated`` is known."""
        unknown = self.run_starts.missing(runs)
        if unknown:
            events = self._handle(gen.path("run_events"), "stats")
            event_files = local_files(events) if events is not None else []
            if event_files:
                with _duck("wanted") as con:
                    con.register("wanted", pa.table({"agent": [a for a, _ in unknown], "run": [r for _, r in unknown]}))
                    self.run_starts.learn(con.sql(
                        "SELECT e.agent, e.run, min(e.stream_id) FROM read_parquet($files) e "
                        "JOIN wanted w ON e.agent = w.agent AND e.run = w.run WHERE e.type = 'RunCreated' "
                        "GROUP BY e.agent, e.run", params={"files": event_files}).fetchall())  # fmt: skip
        floor = self.run_starts.floor(runs)
        if floor is None:
            return local_files(dt)
        return files_since(pa.table(dt.get_add_actions(flatten=True)), dt.table_uri, floor)

    def compact_stats(self, gen: Generation | None = None) -> None:
        """Keep one row per run (the latest). Callers must keep stats writers out during
        ``finish_stats_compaction`` (a read of what is new, then an overwrite)."""
        gen = gen or self.current()
        plan = self.plan_stats_compaction(gen)
        if plan is not None:
            self.finish_stats_compaction(gen, plan)
            self.tidy_stats(gen)

    def plan_stats_compaction(self, gen: Generation) -> tuple[frozenset[str], pa.Table] | None:
        """The long part, with stats writers still running: the latest row per run as of now."""
        stats = gen.table("run_stats")
        files = local_files(stats) if stats is not None else []
        if len(files) <= 1:
            return None
        return frozenset(files), latest_stats(files)

    def finish_stats_compaction(self, gen: Generation, plan: tuple[frozenset[str], pa.Table]) -> None:
        """The short part, with stats writers kept out: fold in the rows appended since the plan
        (appends only add files), then overwrite the table with one row per run."""
        seen, latest = plan
        stats = gen.table("run_stats")
        new = [f for f in local_files(stats) if f not in seen] if stats is not None else []
        if new:
            with _duck("planned", "fresh") as con:
                con.register("planned", latest)
                con.register("fresh", pa.concat_tables([latest.slice(0, 0), latest_stats(new)]))
                latest = con.sql(
                    "SELECT * FROM (SELECT * FROM planned UNION ALL SELECT * FROM fresh) "
                    "QUALIFY row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1"
                ).to_arrow_table().cast(RUN_STATS_SCHEMA)
        write_deltalake(str(gen.path("run_stats")), latest, mode="overwrite")

    def tidy_stats(self, gen: Generation) -> None:
        """Checkpoint and vacuum: safe beside concurrent appends."""
        stats = gen.table("run_stats")
        if stats is not None:
            stats.create_checkpoint()
            stats.vacuum(retention_hours=VACUUM_RETENTION_H, enforce_retention_duration=False, dry_run=False)


def latest_stats(files: list[str]) -> pa.Table:
    with _duck() as con:
        return con.sql(
            "SELECT * FROM read_parquet($files) QUALIFY row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1",
            params={"files": files},
        ).to_arrow_table().cast(RUN_STATS_SCHEMA)
