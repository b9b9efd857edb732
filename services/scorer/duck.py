"""The scorer's own small DuckDB reads: one kept in-memory connection per thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

_local = threading.local()


@contextmanager
def duck(*registered: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """This thread's small in-memory DuckDB for the scorer's own reads (bounded, so the worker's
    memory is too; kept, since opening one costs ~15 ms). The Arrow tables registered under
    ``registered`` are dropped afterwards."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect(config={"threads": 1, "memory_limit": "256MB"})
    try:
        yield con
    finally:
        for name in registered:
            con.unregister(name)

