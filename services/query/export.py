"""Record batches in, bytes out: CSV, a JSON array, or JSON lines, one batch at a time, so an
export of any size streams in constant memory."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from services.query.store import EXPORT_NAMES

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json", "jsonl": "application/x-ndjson"}


def attachment(media: str) -> dict[str, str]:
    """The download header of an export of ``media`` (one of ``MEDIA_TYPES``)."""
    ext = next((fmt for fmt, m in MEDIA_TYPES.items() if m == media), "jsonl")
    return {"Content-Disposition": f'attachment; filename="invarium-results.{ext}"'}


def _csv(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    header = True
    for batch in batches:
        if not batch.num_rows:
            continue
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=header))
        header = False
        yield buf.getvalue()
    if header:  # no rows: still a header, so the file opens with its columns
        yield (",".join(f'"{n}"' for n in EXPORT_NAMES) + "\n").encode()


def _jsonl(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    for batch in batches:
        if batch.num_rows:
            yield b"".join(orjson.dumps(row) + b"\n" for row in batch.to_pylist())


def _json(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    yield b"["
    first = True
    for batch in batches:
        if not batch.num_rows:
            continue
        rows = b",".join(orjson.dumps(row) for row in batch.to_pylist())
        yield rows if first else b"," + rows
        first = False
    yield b"]"


def encode(fmt: str, batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    return {"csv": _csv, "json": _json, "jsonl": _jsonl}[fmt](batches)
