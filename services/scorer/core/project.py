"""Stream entries in, projection rows out: the scorer's fold, pure.

``project`` turns a batch of raw stream entries into Arrow tables: one scored row per
result (verdict, score terms, cost; tool calls, LLM calls and the trace as nested lists),
one row per run lifecycle event, and the archive rows (the events themselves). Every row
carries the stream id it came from, so applying a batch twice can be detected and skipped.
No I/O, no clock: a replay is the same function folded over old entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import orjson
import pyarrow as pa

from services.scorer.core.classify import ALGORITHM_VERSION, classify
from services.scorer.core.pricing import PriceTable
from services.scorer.core.risk import DEFAULT_POLICY, RiskPolicy
from services.scorer.core.scoring import (
    COMPLEXITY_CODES,
    SEVERITY_CODES,
    STATUS_CODES,
    result_terms,
)

_STR_LIST = pa.list_(pa.string())
_TIME = pa.timestamp("us", tz="UTC")

# Tool calls, LLM calls and the trace are kept as the JSON text they were logged with (a
# cheap write, and exactly what was sent); docs/analytics.md shows the DuckDB views that
# unnest them. The columns the scorer derives from them are typed.
RESULTS_SCHEMA = pa.schema(
    [
        ("agent", pa.string()), ("run", pa.string()), ("result_id", pa.string()), ("stream_id", pa.string()),
        ("partition", pa.int32()), ("event_id", pa.string()), ("synced_at", _TIME), ("source", pa.string()),
        ("scenario_id", pa.string()), ("description", pa.string()), ("complexity", pa.string()),
        ("target_failure", pa.string()), ("user_message", pa.string()), ("expected_behavior", pa.string()),
        ("agent_response", pa.string()), ("expected_tools", _STR_LIST), ("tool_match", pa.string()),
        ("forbidden_tools", _STR_LIST), ("tool_sequence", _STR_LIST), ("tools_called_json", pa.string()),
        ("llm_calls_json", pa.string()), ("llm_costs", pa.list_(pa.float64())), ("trace_json", pa.string()),
        ("duration_ms", pa.float64()), ("client_status", pa.string()), ("client_error", pa.string()),
        ("status", pa.string()), ("failure_category", pa.string()), ("failure_subtype", pa.string()),
        ("severity", pa.string()), ("reason", pa.string()), ("missing_steps", _STR_LIST),
        ("extra_steps", _STR_LIST), ("reordered_steps", _STR_LIST), ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()), ("cost_usd", pa.float64()), ("cost_known", pa.bool_()),
        ("score_scored", pa.float64()), ("score_cost", pa.float64()), ("score_weight", pa.float64()),
        ("score_passed_weight", pa.float64()), ("algorithm_version", pa.string()),
    ]
)  # fmt: skip

RUN_EVENTS_SCHEMA = pa.schema(
    [("agent", pa.string()), ("run", pa.string()), ("type", pa.string()), ("stream_id", pa.string()),
     ("partition", pa.int32()), ("at", pa.timestamp("us", tz="UTC")), ("source", pa.string()),
     ("mode", pa.string())]
)  # fmt: skip

ARCHIVE_SCHEMA = pa.schema(
    [("partition", pa.int32()), ("stream_id", pa.string()), ("type", pa.string()), ("agent", pa.string()),
     ("run", pa.string()), ("at", pa.timestamp("us", tz="UTC")), ("data", pa.binary())]
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One stream entry: where it sits in the log, and its raw envelope."""

    partition: int
    stream_id: str
    data: bytes


@dataclass(frozen=True)
class Projection:
    results: pa.Table
    run_events: pa.Table
    archive: pa.Table
    failures: list[tuple[Entry, str]] = field(default_factory=list)

    def merged(self, other: Projection) -> Projection:
        return Projection(
            pa.concat_tables([self.results, other.results]),
            pa.concat_tables([self.run_events, other.run_events]),
            pa.concat_tables([self.archive, other.archive]),
            self.failures + other.failures,
        )

    @property
    def runs(self) -> set[tuple[str, str]]:
        """(agent, run) pairs this batch touched."""
        pairs = set(zip(self.results.column("agent").to_pylist(), self.results.column("run").to_pylist()))
        pairs.update(zip(self.run_events.column("agent").to_pylist(), self.run_events.column("run").to_pylist()))
        return pairs


def stream_id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _time(value: str | None) -> datetime | None:
    """ISO text to an aware datetime; a naive time is taken as UTC."""
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _json(value) -> str:
    return orjson.dumps(value).decode()


class _Columns:
    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.cols: dict[str, list] = {name: [] for name in schema.names}
        self._items = list(self.cols.items())

    def add(self, row: dict) -> None:
        get = row.get
        for name, values in self._items:
            values.append(get(name))

    def table(self) -> pa.Table:
        return pa.table({n: pa.array(v, type=self.schema.field(n).type) for n, v in self.cols.items()}, schema=self.schema)


def _rows_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Row tuples (in schema order) to a table: one C-level transpose, then one array per column."""
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows))
    return pa.table([pa.array(c, type=f.type) for c, f in zip(columns, schema)], schema=schema)


def project(
    entries: Iterable[Entry],
    prices: PriceTable,
    policy: RiskPolicy = DEFAULT_POLICY,
    *,
    skip_runs: frozenset[tuple[str, str]] = frozenset(),
) -> Projection:
    """Fold a batch of entries into projection rows. Entries that cannot be read are returned
    in ``failures`` (with the reason) instead of raising, so one poison event never blocks
    the rest of its batch. Results of runs in ``skip_runs`` (deleted) are dropped."""
    results: list[tuple] = []
    run_events, archive = _Columns(RUN_EVENTS_SCHEMA), _Columns(ARCHIVE_SCHEMA)
    failures: list[tuple[Entry, str]] = []
    statuses, severities, complexities = [], [], []
    for entry in entries:
        try:
            event = orjson.loads(entry.data)
            kind, agent, run, at = event["type"], event["agent"], event["run"], _time(event["at"])
            if event.get("schema_version", 1) != 1:
                raise ValueError(f"unsupported schema_version {event.get('schema_version')!r}")
            payload = event["payload"]
            rows: list[tuple[tuple, object, int]] = []
            if kind == "ResultsSynced":
                if (agent, run) not in skip_runs:
                    for result in payload["results"]:
                        row, verdict = _result_row(result, entry, event, at, payload["source"], prices, policy)
                        rows.append((row, verdict, COMPLEXITY_CODES.get(result.get("complexity") or "", 0)))
            elif kind in ("RunCreated", "RunCompleted", "RunDeleted"):
                run_events.add({"agent": agent, "run": run, "type": kind, "stream_id": entry.stream_id,
                                "partition": entry.partition, "at": at, "source": payload.get("source"),
                                "mode": payload.get("mode")})  # fmt: skip
            else:
                raise ValueError(f"unknown event type {kind!r}")
        except Exception as exc:  # noqa: BLE001 - a poison entry is reported, not raised
            failures.append((entry, f"{type(exc).__name__}: {exc}"))
            continue
        for row, verdict, complexity in rows:  # all of an event's rows, or none of them
            results.append(row)
            statuses.append(STATUS_CODES[verdict.status])
            severities.append(SEVERITY_CODES.get(verdict.severity or "", 0))
            complexities.append(complexity)
        archive.add({"partition": entry.partition, "stream_id": entry.stream_id, "type": kind, "agent": agent,
                     "run": run, "at": at, "data": entry.data})  # fmt: skip
    table = _rows_table(results, RESULTS_SCHEMA)
    if table.num_rows:
        scored, cost, weight, passed = result_terms(np.array(statuses), np.array(severities), np.array(complexities))
        for name, values in (("score_scored", scored), ("score_cost", cost), ("score_weight", weight),
                             ("score_passed_weight", passed)):  # fmt: skip
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.float64()))
    return Projection(table, run_events.table(), archive.table(), failures)


def _result_row(result: dict, entry: Entry, event: dict, at, source, prices, policy) -> tuple[tuple, object]:
    verdict = classify(result, policy)
    calls = result.get("tools_called") or []
    if calls and all(c.get("order") is not None for c in calls):
        calls = sorted(calls, key=lambda c: c["order"])
    llm_calls = result.get("llm_calls") or []
    costs, total_cost, cost_known, any_known, tokens_in, tokens_out = [], 0.0, True, False, 0, 0
    for call in llm_calls:
        n_in, n_out = call.get("input_tokens") or 0, call.get("output_tokens") or 0
        cost, known = prices.estimate_cost(call.get("model"), n_in, n_out)
        costs.append(cost)
        cost_known, any_known = cost_known and known, any_known or known
        total_cost += cost or 0.0
        tokens_in += n_in
        tokens_out += n_out
    trace = result.get("trace")
    get = result.get
    row = (
        event["agent"], event["run"], result["result_id"], entry.stream_id, entry.partition, event["event_id"], at,
        source, result["scenario_id"], get("description") or "", get("complexity"), get("target_failure"),
        result["user_message"], get("expected_behavior"), get("agent_response"), get("expected_tools") or [],
        get("tool_match") or "strict", get("forbidden_tools") or [], [c.get("name") for c in calls], _json(calls),
        _json(llm_calls), costs, _json(trace) if trace else "[]", get("duration_ms"), get("status"), get("error"),
        verdict.status, verdict.category, verdict.subtype, verdict.severity, verdict.reason or None,
        list(verdict.missing), list(verdict.extra), list(verdict.reordered), tokens_in, tokens_out,
        total_cost if any_known or not llm_calls else None, cost_known,
        None, None, None, None,  # score terms: filled in vectorised for the whole batch
        ALGORITHM_VERSION,
    )  # in RESULTS_SCHEMA order
    return row, verdict


