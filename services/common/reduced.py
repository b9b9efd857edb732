"""A small append-only Delta table kept in memory, reduced, and followed by reading only the
files each new version added: the query service's runs index and the run-stats compaction."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from services.common.delta import local_files

# the latest stats row of each run (``as_of``: the results version it was computed at)
LATEST_PER_RUN = "row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1"


class Reduced:
    """A small append-only table kept in memory, reduced to what its reader needs, and brought
    up to date by reading only the files added since (a steady trickle of syncs adds a file or
    two per version, to a table of hundreds between compactions). A snapshot that dropped files
    (a compaction rewrote them) is read in full once: after a compaction that is a few files.
    ``keep`` is a DuckDB QUALIFY over the rows: it must give the same result read in any slices."""

    def __init__(self, schema: pa.Schema, keep: str) -> None:
        self.schema = schema
        self.keep = keep
        self.files: frozenset[str] = frozenset()
        self.rows = schema.empty_table()

    def follow(self, con: duckdb.DuckDBPyConnection, dt: DeltaTable | None) -> None:
        files = local_files(dt) if dt is not None else []
        if not self.files <= set(files):
            self.files, self.rows = frozenset(), self.schema.empty_table()
        new = [f for f in files if f not in self.files]
        if not new:
            return
        con.register("reduced_rows", self.rows)
        try:
            self.rows = con.sql(
                f"SELECT * FROM (SELECT * FROM reduced_rows UNION ALL BY NAME "
                f"SELECT * FROM read_parquet($files, union_by_name = true)) QUALIFY {self.keep}",
                params={"files": new},
            ).to_arrow_table().select(self.schema.names).cast(self.schema)  # fmt: skip
        finally:
            con.unregister("reduced_rows")
        self.files = frozenset(files)
