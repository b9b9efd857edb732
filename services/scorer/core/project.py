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

from services.scorer.core import decode
from services.scorer.core.classify import ALGORITHM_VERSION, _needs_sort, classify, classify_view
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


def _rows_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    """Row tuples (in schema order) to a table: one C-level transpose, then one array per column."""
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows))
    return pa.table([pa.array(c, type=f.type) for c, f in zip(columns, schema)], schema=schema)


# What one entry reads to: (type, agent, run, at, result rows as (row, verdict, complexity code),
# run event row or None). Either path gives all of an event's rows, or raises.
_Read = tuple[str, str, str, datetime | None, list[tuple[tuple, object, int]], tuple | None]


def project(
    entries: Iterable[Entry],
    prices: PriceTable,
    policy: RiskPolicy = DEFAULT_POLICY,
    *,
    skip_runs: frozenset[tuple[str, str]] = frozenset(),
) -> Projection:
    """Fold a batch of entries into projection rows. Entries that cannot be read are returned
    in ``failures`` (with the reason) instead of raising, so one poison event never blocks
    the rest of its batch. Results of runs in ``skip_runs`` (deleted) are dropped.

    Each entry is read through the msgspec view (``_read_view``); one the view does not take
    is read as a dict by ``_read``, the general path, which also gives the failure reasons.
    """
    results: list[tuple] = []
    run_events: list[tuple] = []
    archive: list[tuple] = []
    failures: list[tuple[Entry, str]] = []
    statuses, severities, complexities = [], [], []
    times: dict[str, datetime | None] = {}  # parsed ``at`` by text: a batch repeats a few
    for entry in entries:
        read = _read_view(entry, prices, policy, skip_runs, times)
        if read is None:
            try:
                read = _read(entry, prices, policy, skip_runs)
            except Exception as exc:  # noqa: BLE001 - a poison entry is reported, not raised
                failures.append((entry, f"{type(exc).__name__}: {exc}"))
                continue
        kind, agent, run, at, rows, run_event = read
        for row, verdict, complexity in rows:  # all of an event's rows, or none of them
            results.append(row)
            statuses.append(STATUS_CODES[verdict.status])
            severities.append(SEVERITY_CODES.get(verdict.severity or "", 0))
            complexities.append(complexity)
        if run_event is not None:
            run_events.append(run_event)
        archive.append((entry.partition, entry.stream_id, kind, agent, run, at, entry.data))
    table = _rows_table(results, RESULTS_SCHEMA)
    if table.num_rows:
        scored, cost, weight, passed = result_terms(np.array(statuses), np.array(severities), np.array(complexities))
        for name, values in (("score_scored", scored), ("score_cost", cost), ("score_weight", weight),
                             ("score_passed_weight", passed)):  # fmt: skip
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.float64()))
    return Projection(table, _rows_table(run_events, RUN_EVENTS_SCHEMA), _rows_table(archive, ARCHIVE_SCHEMA),
                      failures)


def _read(entry: Entry, prices: PriceTable, policy: RiskPolicy, skip_runs: frozenset[tuple[str, str]]) -> _Read:
    """The general path: the event as a dict; raises what makes the entry a failure."""
    event = orjson.loads(entry.data)
    kind, agent, run, at = event["type"], event["agent"], event["run"], _time(event["at"])
    if event.get("schema_version", 1) != 1:
        raise ValueError(f"unsupported schema_version {event.get('schema_version')!r}")
    payload = event["payload"]
    rows: list[tuple[tuple, object, int]] = []
    run_event = None
    if kind == "ResultsSynced":
        if (agent, run) not in skip_runs:
            for result in payload["results"]:
                row, verdict = _result_row(result, entry, event, at, payload["source"], prices, policy)
                rows.append((row, verdict, COMPLEXITY_CODES.get(result.get("complexity") or "", 0)))
    elif kind in ("RunCreated", "RunCompleted", "RunDeleted"):
        run_event = (agent, run, kind, entry.stream_id, entry.partition, at, payload.get("source"), payload.get("mode"))
    else:
        raise ValueError(f"unknown event type {kind!r}")
    return kind, agent, run, at, rows, run_event


_RUN_EVENTS = frozenset({"RunCreated", "RunCompleted", "RunDeleted"})


def _read_view(entry: Entry, prices: PriceTable, policy: RiskPolicy, skip_runs: frozenset[tuple[str, str]],
               times: dict[str, datetime | None]) -> _Read | None:
    """``_read`` through the msgspec view, or None where the view does not apply (the event
    is then read by ``_read``): same rows, with tool calls, LLM calls and the trace stored as
    the JSON text they were logged with rather than re-encoded (the same JSON values)."""
    data = entry.data
    if not decode.acceptable(data):
        return None
    try:
        event = decode.ENVELOPE.decode(data)
        kind, agent, run, payload = event.type, event.agent, event.run, event.payload
        if event.schema_version != 1:
            return None
        at = times.get(event.at, times)  # the dict itself: not seen yet
        if at is times:
            at = times[event.at] = _time(event.at)
        rows: list[tuple[tuple, object, int]] = []
        run_event = None
        if kind == "ResultsSynced":
            if (agent, run) not in skip_runs:
                results, source = payload.results, payload.source
                if results is decode.UNSET or (results and source is decode.UNSET):
                    return None
                for result in results:
                    rows.append(_view_row(result, entry, event, at, source, prices, policy))
        elif kind in _RUN_EVENTS:
            source = None if payload.source is decode.UNSET else payload.source
            run_event = (agent, run, kind, entry.stream_id, entry.partition, at, source, payload.mode)
        else:
            return None
    except Exception:  # noqa: BLE001 - the general path reads it, and says why it cannot
        return None
    return kind, agent, run, at, rows, run_event


def _view_row(result: decode.ResultView, entry: Entry, event: decode.EnvelopeView, at, source, prices,
              policy) -> tuple[tuple, object, int]:
    """``_result_row`` of a result view (plus its complexity code)."""
    tools_span = result.tools_called
    calls = decode.CALLS.decode(tools_span)
    if calls:
        tools_json = bytes(tools_span)
        orders = [c.order for c in calls]
        if len(orders) > 1 and _needs_sort(orders):  # stored sorted by order, as classify reads them
            position = sorted(range(len(orders)), key=orders.__getitem__)
            calls = [calls[k] for k in position]
            spans = decode.CALL_SPANS.decode(tools_span)
            tools_json = b"[" + b",".join([bytes(spans[k]) for k in position]) + b"]"
        names = [c.name for c in calls]
        called = [n if n is not None else "" for n in names]
        verdict = classify_view(result, called, [c.error for c in calls], policy)
    else:
        tools_json, names = b"[]", []
        verdict = classify_view(result, [], [], policy)
    llm_span = result.llm_calls
    llm_calls = decode.LLM_CALLS.decode(llm_span)
    costs, total_cost, cost_known, any_known, tokens_in, tokens_out = [], 0.0, True, False, 0, 0
    if llm_calls:
        llm_json = bytes(llm_span)
        estimate = prices.estimate_cost
        for call in llm_calls:
            n_in, n_out = call.input_tokens or 0, call.output_tokens or 0
            cost, known = estimate(call.model, n_in, n_out)
            costs.append(cost)
            cost_known, any_known = cost_known and known, any_known or known
            total_cost += cost or 0.0
            tokens_in += n_in
            tokens_out += n_out
    else:
        llm_json = b"[]"
    trace = bytes(result.trace)
    complexity = result.complexity
    row = (
        event.agent, event.run, result.result_id, entry.stream_id, entry.partition, event.event_id, at,
        source, result.scenario_id, result.description or "", complexity, result.target_failure,
        result.user_message, result.expected_behavior, result.agent_response, result.expected_tools or [],
        result.tool_match or "strict", result.forbidden_tools or [], names, tools_json,
        llm_json, costs, trace if decode.truthy(trace) else b"[]", result.duration_ms, result.status,
        result.error, verdict.status, verdict.category, verdict.subtype, verdict.severity, verdict.reason or None,
        list(verdict.missing), list(verdict.extra), list(verdict.reordered), tokens_in, tokens_out,
        total_cost if any_known or not llm_calls else None, cost_known,
        None, None, None, None,  # score terms: filled in vectorised for the whole batch
        ALGORITHM_VERSION,
    )  # in RESULTS_SCHEMA order
    return row, verdict, COMPLEXITY_CODES.get(complexity or "", 0)


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


