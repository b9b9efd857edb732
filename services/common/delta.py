"""Delta table file lists as DuckDB can open them.

``DeltaTable.file_uris()`` percent-encodes paths (a data directory with a space gives
``…/my%20data/…``), and DuckDB then finds no such file. Every reader takes its file lists here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from deltalake import DeltaTable

# The columns whose per-file min/max a table keeps in its Delta log: only those something prunes
# by (the query service's file index: agent, run; the stats refresh: stream_id; the archive:
# partition and stream id). Stats of every column made each commit cost ~0.3 ms more per file
# in the snapshot here (delta-rs carries them all through every commit): 85 ms instead of 43 ms
# a commit at 300 files, for data skipping nobody does. DuckDB still prunes row groups by the
# Parquet files' own statistics, which are unaffected.
STATS_COLUMNS = {"results": "agent,run,partition,stream_id", "run_events": "agent,run,partition,stream_id",
                 "run_stats": "agent,run", "events": "partition,stream_id,agent,run"}  # fmt: skip


# How long a commit file stays in ``_delta_log`` once a checkpoint covers it (Delta's default is
# 30 days). delta-rs writes a checkpoint every ``CHECKPOINT_INTERVAL`` commits and, in the same
# post-commit step, deletes the commit files older than this that the checkpoint covers. With the default, a table
# written a few times a second kept ~260k commit files a day, and every ``update_incremental``
# lists that directory: 0.3 ms at 50 files, 4.8 ms at 4,000 (on this machine). Nothing here
# reads an old version by number (no time travel); a reader more than this far behind catches up
# from the checkpoint instead (tests/integration/test_delta_log.py).
LOG_RETENTION = "interval 5 minutes"
# A checkpoint every 10 commits, not 100: every snapshot update replays the commits since the last
# checkpoint, so its cost grew with them. 300 appends of 20 rows to one table (/tmp script):
# a reader's update_incremental p50 11.1 -> 3.9 ms; the writer's commit mean 32.9 -> 29.7 ms
# (its own handle update included), its p99 127 -> 70 ms. A checkpoint holds the table's live files,
# which compaction keeps to a few hundred.
CHECKPOINT_INTERVAL = "10"


def table_configuration(path: str | Path) -> dict[str, str]:
    """The properties a projection table is created with (by its directory name)."""
    config = {"delta.logRetentionDuration": LOG_RETENTION, "delta.checkpointInterval": CHECKPOINT_INTERVAL}
    columns = STATS_COLUMNS.get(Path(path).name)
    if columns:
        config["delta.dataSkippingStatsColumns"] = columns
    return config


# The properties a table made before them gets at its next compaction (``upgrade``).
UPGRADED = ("delta.logRetentionDuration", "delta.checkpointInterval")


def upgrade(dt: DeltaTable, path: str | Path) -> bool:
    """Give a table made before ``UPGRADED`` existed their values (one metadata commit; a concurrent
    append then fails once with "Metadata changed" and is retried: ``Tables._append``). Whether it
    changed anything."""
    want = table_configuration(path)
    have = dt.metadata().configuration
    missing = {key: want[key] for key in UPGRADED if have.get(key) != want[key]}
    if missing:
        dt.alter.set_table_properties(missing)
    return bool(missing)


def local_path(uri: str) -> str:
    return unquote(uri.removeprefix("file://"))


def local_files(dt: DeltaTable) -> list[str]:
    """The snapshot's data files as local paths."""
    return [local_path(uri) for uri in dt.file_uris()]
