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


def table_configuration(path: str | Path) -> dict[str, str] | None:
    """The properties a projection table is created with (by its directory name)."""
    columns = STATS_COLUMNS.get(Path(path).name)
    return {"delta.dataSkippingStatsColumns": columns} if columns else None


def local_path(uri: str) -> str:
    return unquote(uri.removeprefix("file://"))


def local_files(dt: DeltaTable) -> list[str]:
    """The snapshot's data files as local paths."""
    return [local_path(uri) for uri in dt.file_uris()]
