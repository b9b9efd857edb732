"""Delta table file lists as DuckDB can open them.

``DeltaTable.file_uris()`` percent-encodes paths (a data directory with a space gives
``…/my%20data/…``), and DuckDB then finds no such file. Every reader takes its file lists here.
"""

from __future__ import annotations

from urllib.parse import unquote

from deltalake import DeltaTable


def local_path(uri: str) -> str:
    return unquote(uri.removeprefix("file://"))


def local_files(dt: DeltaTable) -> list[str]:
    """The snapshot's data files as local paths."""
    return [local_path(uri) for uri in dt.file_uris()]
