"""Which results files can hold rows of a set of runs: so a stats refresh reads what is new,
not the whole table.

Every result of a run is logged after the run's ``RunCreated``, in the same stream partition,
and Redis stream ids only grow within a stream. So a file whose largest stream id is older than
the oldest ``RunCreated`` among the runs (in milliseconds) holds none of their rows, whatever
partitions it mixes. Delta keeps min/max stream ids per file in its log; no file is opened.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import pyarrow as pa

from services.common.delta import local_path

_CACHE_MAX = 100_000


def stream_ms(stream_id: str) -> int:
    return int(stream_id.partition("-")[0])


class RunStarts:
    """Stream id (ms part) of each run's ``RunCreated``: a bounded memo, filled by the worker's
    own commits and by lookups in ``run_events``."""

    def __init__(self, size: int = _CACHE_MAX) -> None:
        self._size = size
        self._ms: OrderedDict[tuple[str, str], int] = OrderedDict()

    def record(self, run_events: pa.Table) -> None:
        if not run_events.num_rows:
            return
        for agent, run, kind, sid in zip(*(run_events[c].to_pylist() for c in ("agent", "run", "type", "stream_id"))):
            if kind == "RunCreated":
                self._put((agent, run), stream_ms(sid))

    def _put(self, key: tuple[str, str], ms: int) -> None:
        self._ms[key] = min(ms, self._ms.get(key, ms))
        self._ms.move_to_end(key)
        while len(self._ms) > self._size:
            self._ms.popitem(last=False)

    def missing(self, runs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [r for r in runs if r not in self._ms]

    def learn(self, found: Iterable[tuple[str, str, str]]) -> None:
        for agent, run, sid in found:
            self._put((agent, run), stream_ms(sid))

    def floor(self, runs: Iterable[tuple[str, str]]) -> int | None:
        """The oldest start among ``runs``; None when one is unknown (then nothing may be pruned)."""
        starts = [self._ms.get(r) for r in runs]
        return None if not starts or None in starts else min(starts)  # type: ignore[type-var]


def files_since(actions: pa.Table, root: str, floor_ms: int) -> list[str]:
    """Files of a Delta snapshot (its add actions, flattened), as local paths, that may hold rows
    logged at or after ``floor_ms``. A file is skipped only when its min and max stream ids have as many
    digits as the floor (so string order is number order) and its max is older."""
    digits = len(str(floor_ms))
    root = local_path(root).rstrip("/")
    keep = []
    for path, lo, hi in zip(*(actions[c].to_pylist() for c in ("path", "min.stream_id", "max.stream_id"))):
        if lo and hi:
            lo_ms, hi_ms = lo.partition("-")[0], hi.partition("-")[0]
            if len(lo_ms) == len(hi_ms) == digits and int(hi_ms) < floor_ms:
                continue
        path = local_path(path)
        keep.append(path if path.startswith("/") else f"{root}/{path}")
    return keep
