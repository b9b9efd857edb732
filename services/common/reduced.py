"""A small append-only Delta table kept in memory, reduced, and followed by reading only the
files each new version added: the query service's runs index and the run-stats compaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from services.common.delta import local_files

# the latest stats row of each run (``as_of``: the results version it was computed at)
LATEST_PER_RUN = "row_number() OVER (PARTITION BY agent, run ORDER BY as_of DESC) = 1"


@dataclass(frozen=True)
class Keep:
    """Which rows a reduced table keeps: the first of each ``by`` group in ``order`` (the Arrow
    form of ``row_number() OVER (PARTITION BY by ORDER BY order) = 1``; Arrow's sort is stable,
    so ties keep the row read first, and nulls sort last as in DuckDB). ``by`` starts with
    ``agent, run``."""

    by: tuple[str, ...]
    order: tuple[tuple[str, str], ...]


LATEST_STATS = Keep(("agent", "run"), (("as_of", "descending"),))  # LATEST_PER_RUN


def first_per_group(table: pa.Table, keep: Keep) -> pa.Table:
    n = table.num_rows
    if n <= 1:
        return table
    ordered = table.take(pc.sort_indices(table, sort_keys=[(c, "ascending") for c in keep.by] + list(keep.order)))
    first = np.zeros(n, bool)
    first[0] = True
    for c in keep.by:
        col = ordered.column(c)
        first[1:] |= pc.not_equal(col.slice(1), col.slice(0, n - 1)).fill_null(True).to_numpy(zero_copy_only=False)
    return ordered.filter(pa.array(first))


def run_keys(agents: pa.ChunkedArray | pa.Array | Sequence[str], runs: pa.ChunkedArray | pa.Array | Sequence[str]):
    """One text per (agent, run), for membership tests (names never hold a NUL)."""
    return pc.binary_join_element_wise(agents, runs, "\x00")


class Reduced:
    """A small append-only table kept in memory, reduced to what its reader needs (``keep``), and
    brought up to date by reading only the files added since (a steady trickle of syncs adds a file
    or two per version, to a table of hundreds between compactions). A snapshot that dropped files
    (a compaction rewrote them) is read in full once: after a compaction that is a few files.

    Done in Arrow, not DuckDB: these are small reads and merges, and under load each DuckDB query
    here cost 10-25 ms (a hand-over to its worker threads on a busy machine) against ~1 ms."""

    def __init__(self, schema: pa.Schema, keep: Keep) -> None:
        self.schema = schema
        self.keep = keep
        self.files: frozenset[str] = frozenset()
        self.rows = schema.empty_table()
        self._keys = pa.chunked_array([], pa.string())  # run_keys of ``rows``

    def follow(self, dt: DeltaTable | None) -> frozenset[tuple[str, str]] | None:
        """Bring the rows up to ``dt``'s snapshot. Returns the (agent, run) pairs whose rows the new
        files touched, or None when the rows were read afresh (the first time, after a compaction)."""
        files = local_files(dt) if dt is not None else []
        fresh = not self.files or not self.files <= set(files)
        if fresh:
            self._set(self.schema.empty_table())
            self.files = frozenset()
        new = [f for f in files if f not in self.files]
        if new:
            added = first_per_group(ds.dataset(new, schema=self.schema, format="parquet").to_table(), self.keep)
            if fresh:
                self._set(added)
            else:  # the touched runs' rows reduced with the new ones; the others' as they are
                touched = frozenset(zip(added.column("agent").to_pylist(), added.column("run").to_pylist()))
                hit = pc.is_in(self._keys, value_set=run_keys(added.column("agent"), added.column("run")).combine_chunks())
                merged = first_per_group(pa.concat_tables([self.rows.filter(hit), added]), self.keep)
                others = pc.invert(hit)
                keys = self._keys.filter(others).chunks + run_keys(merged.column("agent"), merged.column("run")).chunks
                self._set(pa.concat_tables([self.rows.filter(others), merged]), pa.chunked_array(keys, pa.string()))
        self.files = frozenset(files)
        return None if fresh else (touched if new else frozenset())

    def of_runs(self, pairs: Iterable[tuple[str, str]]) -> pa.Table:
        """The rows of these (agent, run) pairs."""
        pairs = list(pairs)
        wanted = run_keys(pa.array([a for a, _ in pairs], pa.string()), pa.array([r for _, r in pairs], pa.string()))
        return self.rows.filter(pc.is_in(self._keys, value_set=wanted))

    def _set(self, rows: pa.Table, keys: pa.ChunkedArray | None = None) -> None:
        if keys is None:
            keys = run_keys(rows.column("agent"), rows.column("run"))
        if rows.column(0).num_chunks > 64:  # each merge adds chunks; a filter keeps them
            rows, keys = rows.combine_chunks(), pa.chunked_array([keys.combine_chunks()])
        self.rows, self._keys = rows, keys
