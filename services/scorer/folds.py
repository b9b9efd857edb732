"""Folds: the settled part of a run's stats, so a stats refresh reads what is new, not the run.

A stream entry below the consumer group's *settled mark* of its partition (the oldest entry
still pending, else the next one to be delivered) has been acknowledged, and the worker
acknowledges only after the entry's rows are committed. So the rows of a run logged below the
mark are in the results table for good, and their aggregates never change again. A fold is
those aggregates together with the marks they cover (per partition):

    fold(run, marks) = aggregates of the run's rows logged below ``marks``

A refresh merges the run's fold with the rows logged at or after its marks (``_TAIL_SQL`` in
``runstats``), and folds in the part of them that is now settled, under the new marks. A fold
is a fact about immutable rows: whichever worker made it, it stays right, and losing it only
costs one full read of the run. Folds live in Redis (a key per run, expiring when the run has
been quiet for ``FOLD_TTL_S``), under the generation and its *epoch*: a re-score that rewrites
rows of a generation bumps its epoch, which retires every fold made before.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import pyarrow as pa

from services.scorer.core.project import stream_id_key

Run = tuple[str, str]
Mark = tuple[int, int]  # (ms, seq) of a stream id
FOLD_TTL_S = 3 * 24 * 3600

FOLD_MARKS_SCHEMA = pa.schema([("agent", pa.string()), ("run", pa.string()), ("partition", pa.int32()),
                               ("ms", pa.int64()), ("seq", pa.int64())])  # fmt: skip
MARKS_SCHEMA = pa.schema([("partition", pa.int32()), ("ms", pa.int64()), ("seq", pa.int64())])


class Fold:
    """One run's fold: ``marks`` per partition and the aggregate ``values`` (in the parts
    schema's order, timestamps as epoch microseconds)."""

    __slots__ = ("marks", "values")

    def __init__(self, marks: dict[int, Mark], values: list) -> None:
        self.marks = marks
        self.values = values

    def encode(self) -> bytes:
        return orjson.dumps({"m": {str(p): list(m) for p, m in self.marks.items()}, "v": self.values})

    @classmethod
    def decode(cls, raw: bytes) -> Fold:
        data = orjson.loads(raw)
        return cls({int(p): (int(m[0]), int(m[1])) for p, m in data["m"].items()}, data["v"])

    def floor_ms(self) -> int:
        """The oldest mark: no row of the run logged before it is read again."""
        return min(ms for ms, _ in self.marks.values())


def advanced(old: dict[int, Mark], marks: dict[int, Mark], partitions: Iterable[int]) -> dict[int, Mark]:
    """A run's marks after folding in its rows below ``marks``, for the partitions it has rows in
    (one, unless the partition count changed; never moved back)."""
    merged = dict(old)
    for p in set(partitions) | set(old):
        if p in marks:
            merged[p] = max(marks[p], merged.get(p, (0, 0)))
    return merged


def fold_marks_table(folds: dict[Run, Fold]) -> pa.Table:
    rows = [(a, r, p, ms, seq) for (a, r), fold in folds.items() for p, (ms, seq) in fold.marks.items()]
    return pa.table(list(zip(*rows)) if rows else [[] for _ in FOLD_MARKS_SCHEMA], schema=FOLD_MARKS_SCHEMA)


def marks_table(marks: dict[int, Mark]) -> pa.Table:
    items = sorted(marks.items())
    return pa.table([[p for p, _ in items], [m[0] for _, m in items], [m[1] for _, m in items]], schema=MARKS_SCHEMA)


def folds_table(folds: dict[Run, Fold], schema: pa.Schema) -> pa.Table:
    """The folds' aggregates as parts rows (``schema``: agent, run, then the aggregates)."""
    runs = list(folds)
    columns: list[list] = [[a for a, _ in runs], [r for _, r in runs]]
    columns += [[folds[run].values[i] for run in runs] for i in range(len(schema) - 2)]
    return pa.table(columns, schema=_plain(schema)).cast(schema)


def folds_from(table: pa.Table, previous: dict[Run, Fold], marks: dict[int, Mark],
               seen: Iterable[tuple[str, str, int]]) -> dict[Run, Fold]:  # fmt: skip
    """New folds from merged parts rows (agent, run, aggregates), under the advanced marks of the
    partitions the runs were ``seen`` in (agent, run, partition). A run with no rows yet gets none."""
    partitions: dict[Run, set[int]] = {}
    for agent, run, p in seen:
        partitions.setdefault((agent, run), set()).add(p)
    plain = table.cast(_plain(table.schema))
    columns = [plain[n].to_pylist() for n in plain.schema.names[2:]]
    out = {}
    for i, run in enumerate(zip(plain["agent"].to_pylist(), plain["run"].to_pylist())):
        old = previous.get(run)
        new_marks = advanced(old.marks if old else {}, marks, partitions.get(run, ()))
        if new_marks:
            out[run] = Fold(new_marks, [c[i] for c in columns])
    return out


def _plain(schema: pa.Schema) -> pa.Schema:
    """Timestamps as int64 microseconds: what a fold keeps in JSON."""
    return pa.schema([pa.field(f.name, pa.int64()) if pa.types.is_timestamp(f.type) else f for f in schema])


def settled_mark(last_delivered: bytes | str | None, pending_min: bytes | str | None) -> Mark:
    """The settled mark of a partition: every entry below it is acknowledged (so committed)."""
    nxt = next_mark(last_delivered) if last_delivered else (0, 0)
    return min(nxt, stream_mark(pending_min)) if pending_min else nxt


def stream_mark(stream_id: bytes | str) -> Mark:
    """A stream id as Redis sent it (bytes) or as text, as its (ms, seq)."""
    return stream_id_key(stream_id.decode() if isinstance(stream_id, bytes) else stream_id)


def next_mark(stream_id: bytes | str) -> Mark:
    """The smallest id after ``stream_id``."""
    ms, seq = stream_mark(stream_id)
    return ms, seq + 1


def decode_all(runs: Iterable[Run], raws: Iterable[bytes | None]) -> dict[Run, Fold]:
    out = {}
    for run, raw in zip(runs, raws):
        if raw:
            try:
                fold = Fold.decode(raw)
                if fold.marks:
                    out[run] = fold
            except (ValueError, KeyError, TypeError, IndexError):  # unreadable: the run is read in full
                continue
    return out
