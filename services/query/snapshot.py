"""Open the current snapshot in DuckDB: ``python -m services.query.snapshot [--out FILE] [--open]``
(``make duckdb``).

Writes a small ``.duckdb`` file of views over the Parquet files of the current snapshot
(``docs/analytics.md`` documents them): ``results``, ``runs``, ``run_events``, ``run_stats``
(every row, history included), and ``tool_calls``, ``llm_calls``, ``trace`` unnested from the
JSON columns. Nothing keeps the file open, so any number of readers can use it; re-run the
command to see newer scores (a compaction later replaces the files the views name).
With ``--open`` it then starts the ``duckdb`` shell on it, or a small SQL prompt in Python
when that shell is not installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb

from services.query.catalog import RUNS_SQL, SnapshotLoader
from services.query.settings import QuerySettings
from services.scorer.core.project import RESULTS_SCHEMA, RUN_EVENTS_SCHEMA
from services.scorer.tables import RUN_STATS_SCHEMA

TOOL_CALL = '[{"name": "VARCHAR", "arguments": "JSON", "result": "JSON", "duration_ms": "DOUBLE", "order": "BIGINT", "error": "VARCHAR"}]'
LLM_CALL = ('[{"provider": "VARCHAR", "model": "VARCHAR", "input_tokens": "BIGINT", "output_tokens": "BIGINT", '
            '"latency_ms": "DOUBLE", "tools_offered": "VARCHAR[]", "tools_chosen": "VARCHAR[]"}]')  # fmt: skip
TRACE_EVENT = '[{"at": "VARCHAR", "kind": "VARCHAR", "name": "VARCHAR", "duration_ms": "DOUBLE", "data": "JSON"}]'


def _source(files: list[str], schema) -> str:
    if files:
        return f"read_parquet([{', '.join(_lit(f) for f in files)}], union_by_name = true)"
    cols = ", ".join(f"NULL::{_duck_type(f.type)} AS \"{f.name}\"" for f in schema)
    return f"(SELECT {cols} WHERE false)"


def _duck_type(t) -> str:
    import pyarrow as pa

    if pa.types.is_list(t):
        return _duck_type(t.value_type) + "[]"
    return {"string": "VARCHAR", "int32": "INTEGER", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN",
            "binary": "BLOB"}.get(str(t), "TIMESTAMPTZ" if pa.types.is_timestamp(t) else "VARCHAR")  # fmt: skip


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def view_sql(data_dir: Path) -> list[str]:
    """CREATE VIEW statements over the current snapshot's files."""
    loader = SnapshotLoader(data_dir)
    files = {name: loader.files(name) for name in ("results", "run_stats", "run_events")}
    results = _source(files["results"], RESULTS_SCHEMA)
    stats = _source(files["run_stats"], RUN_STATS_SCHEMA)
    events = _source(files["run_events"], RUN_EVENTS_SCHEMA)
    deleted = f"(SELECT agent, run FROM {events} WHERE type = 'RunDeleted')"
    runs = RUNS_SQL.format(stats=stats, events=events)
    return [
        f"CREATE VIEW run_events AS SELECT * FROM {events}",
        f"CREATE VIEW run_stats AS SELECT * FROM {stats}",
        f"CREATE VIEW results AS SELECT * FROM {results} WHERE (agent, run) NOT IN {deleted}",
        "CREATE VIEW runs AS SELECT agent, run, to_timestamp(date_us / 1e6) AS created_at, "
        "to_timestamp(completed_us / 1e6) AS completed_at, * EXCLUDE (agent, run, date_us, completed_us, deleted) "
        f"FROM ({runs}) WHERE NOT deleted AND date_us IS NOT NULL",
        "CREATE VIEW tool_calls AS SELECT agent, run, result_id, position, c.name, c.arguments, c.result, c.duration_ms, "
        f"c.error FROM (SELECT agent, run, result_id, unnest(calls) AS c, generate_subscripts(calls, 1) AS position "
        f"FROM (SELECT agent, run, result_id, from_json(tools_called_json, '{TOOL_CALL}') AS calls FROM results))",
        "CREATE VIEW llm_calls AS SELECT agent, run, result_id, position, c.provider, c.model, c.input_tokens, "
        "c.output_tokens, c.latency_ms, c.tools_offered, c.tools_chosen, llm_costs[position] AS cost_usd "
        "FROM (SELECT agent, run, result_id, llm_costs, unnest(calls) AS c, generate_subscripts(calls, 1) AS position "
        f"FROM (SELECT agent, run, result_id, llm_costs, from_json(llm_calls_json, '{LLM_CALL}') AS calls FROM results))",
        "CREATE VIEW trace AS SELECT agent, run, result_id, position, e.at::TIMESTAMPTZ AS \"at\", e.kind, e.name, "
        "e.duration_ms, e.data FROM (SELECT agent, run, result_id, unnest(events) AS e, generate_subscripts(events, 1) "
        f"AS position FROM (SELECT agent, run, result_id, from_json(trace_json, '{TRACE_EVENT}') AS events FROM results))",
    ]


def build(data_dir: Path, out: Path) -> Path:
    """Write the views to ``out`` atomically (a temporary file, then a rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".snapshot.", suffix=".duckdb")
    os.close(fd)
    os.unlink(tmp)  # DuckDB creates the file itself
    con = duckdb.connect(tmp)
    try:
        for stmt in view_sql(data_dir):
            con.execute(stmt)
    finally:
        con.close()
    os.replace(tmp, out)
    return out


def prompt(path: Path) -> None:
    """A minimal SQL prompt for when the duckdb shell is not installed; statements end with ';'."""
    con = duckdb.connect(str(path), read_only=True)
    print(f"DuckDB {duckdb.__version__} on {path} (views: results, runs, run_events, run_stats, tool_calls, "
          "llm_calls, trace). End statements with ';'; Ctrl-D quits.")  # fmt: skip
    buf = ""
    while True:
        try:
            line = input("D " if not buf else "· ")
        except EOFError:
            print()
            return
        buf += line + "\n"
        if buf.strip().endswith(";"):
            try:
                con.sql(buf).show(max_rows=50)
            except duckdb.Error as exc:
                print(f"Error: {exc}")
            except AttributeError:
                pass  # a statement with no result
            buf = ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="the .duckdb file (default: <data dir>/snapshot.duckdb)")
    ap.add_argument("--open", action="store_true", help="open it in the duckdb shell (or a Python SQL prompt)")
    args = ap.parse_args(argv)
    settings = QuerySettings()
    out = build(settings.data_dir, args.out or settings.data_dir / "snapshot.duckdb")
    print(f"snapshot views written to {out}", file=sys.stderr)
    if args.open:
        shell = shutil.which("duckdb")
        if shell:
            os.execvp(shell, [shell, "-readonly", str(out)])
        prompt(out)


if __name__ == "__main__":
    main()
