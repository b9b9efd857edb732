"""``project`` (msgspec view, fast path) against a frozen copy of the dict-only implementation.

The reference below is ``services/scorer/core/project.py`` as it was before the msgspec view:
every event through ``orjson.loads`` and dicts, tool calls, LLM calls and the trace re-encoded
with ``orjson.dumps``. The projection must be the same table for every input, with one
accepted difference: ``tools_called_json``, ``llm_calls_json`` and ``trace_json`` now hold the
JSON text as it was logged, so they are the same JSON *value* (and the same bytes whenever the
logged text is compact JSON as orjson writes it, which is what ingest's own encoders produce).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scorer.core.classify import ALGORITHM_VERSION, classify
from services.scorer.core.pricing import default_price_table
from services.scorer.core.project import (
    ARCHIVE_SCHEMA,
    RESULTS_SCHEMA,
    RUN_EVENTS_SCHEMA,
    Entry,
    Projection,
    project,
)
from services.scorer.core.risk import DEFAULT_POLICY, RiskPolicy
from services.scorer.core.scoring import COMPLEXITY_CODES, SEVERITY_CODES, STATUS_CODES, result_terms
from tests.factories import make_batch

pytestmark = pytest.mark.unit

PRICES = default_price_table()
JSON_COLUMNS = ("tools_called_json", "llm_calls_json", "trace_json")
OVERRIDES = RiskPolicy(tool_tags={"delete_account": {"safe"}, "lookup_order": {"exports_data"},
                                  "get_tracking": {"destructive"}, "search_knowledge_base": {"escalation"}})


# --- the reference: project.py before the msgspec view (frozen, do not edit) ----------------


def _ref_time(value):
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _ref_json(value) -> str:
    return orjson.dumps(value).decode()


class _RefColumns:
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


def _ref_rows_table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows))
    return pa.table([pa.array(c, type=f.type) for c, f in zip(columns, schema)], schema=schema)


def ref_project(entries: Iterable[Entry], prices, policy: RiskPolicy = DEFAULT_POLICY, *,
                skip_runs: frozenset[tuple[str, str]] = frozenset()) -> Projection:
    results: list[tuple] = []
    run_events, archive = _RefColumns(RUN_EVENTS_SCHEMA), _RefColumns(ARCHIVE_SCHEMA)
    failures: list[tuple[Entry, str]] = []
    statuses, severities, complexities = [], [], []
    for entry in entries:
        try:
            event = orjson.loads(entry.data)
            kind, agent, run, at = event["type"], event["agent"], event["run"], _ref_time(event["at"])
            if event.get("schema_version", 1) != 1:
                raise ValueError(f"unsupported schema_version {event.get('schema_version')!r}")
            payload = event["payload"]
            rows: list[tuple[tuple, object, int]] = []
            if kind == "ResultsSynced":
                if (agent, run) not in skip_runs:
                    for result in payload["results"]:
                        row, verdict = _ref_result_row(result, entry, event, at, payload["source"], prices, policy)
                        rows.append((row, verdict, COMPLEXITY_CODES.get(result.get("complexity") or "", 0)))
            elif kind in ("RunCreated", "RunCompleted", "RunDeleted"):
                run_events.add({"agent": agent, "run": run, "type": kind, "stream_id": entry.stream_id,
                                "partition": entry.partition, "at": at, "source": payload.get("source"),
                                "mode": payload.get("mode")})  # fmt: skip
            else:
                raise ValueError(f"unknown event type {kind!r}")
        except Exception as exc:  # noqa: BLE001
            failures.append((entry, f"{type(exc).__name__}: {exc}"))
            continue
        for row, verdict, complexity in rows:
            results.append(row)
            statuses.append(STATUS_CODES[verdict.status])
            severities.append(SEVERITY_CODES.get(verdict.severity or "", 0))
            complexities.append(complexity)
        archive.add({"partition": entry.partition, "stream_id": entry.stream_id, "type": kind, "agent": agent,
                     "run": run, "at": at, "data": entry.data})  # fmt: skip
    table = _ref_rows_table(results, RESULTS_SCHEMA)
    if table.num_rows:
        scored, cost, weight, passed = result_terms(np.array(statuses), np.array(severities), np.array(complexities))
        for name, values in (("score_scored", scored), ("score_cost", cost), ("score_weight", weight),
                             ("score_passed_weight", passed)):  # fmt: skip
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.float64()))
    return Projection(table, run_events.table(), archive.table(), failures)


def _ref_result_row(result: dict, entry: Entry, event: dict, at, source, prices, policy) -> tuple[tuple, object]:
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
        get("tool_match") or "strict", get("forbidden_tools") or [], [c.get("name") for c in calls], _ref_json(calls),
        _ref_json(llm_calls), costs, _ref_json(trace) if trace else "[]", get("duration_ms"), get("status"),
        get("error"), verdict.status, verdict.category, verdict.subtype, verdict.severity, verdict.reason or None,
        list(verdict.missing), list(verdict.extra), list(verdict.reordered), tokens_in, tokens_out,
        total_cost if any_known or not llm_calls else None, cost_known,
        None, None, None, None,
        ALGORITHM_VERSION,
    )
    return row, verdict


# --- comparing ---------------------------------------------------------------------------------


def _run(fn, entries, policy, skip_runs):
    try:
        return fn(entries, PRICES, policy, skip_runs=skip_runs), None
    except Exception as exc:  # noqa: BLE001 - a batch the reference cannot build either
        return None, type(exc)


def orjson_text(data: bytes) -> bool:
    """Whether ``data`` is orjson's own text of its value (or not JSON orjson reads at all)."""
    try:
        return orjson.dumps(orjson.loads(data)) == data
    except (orjson.JSONDecodeError, TypeError):
        return True


def assert_same(entries: list[Entry], *, policy: RiskPolicy = DEFAULT_POLICY,
                skip_runs: frozenset[tuple[str, str]] = frozenset(), exact: bool | None = None) -> Projection | None:
    """``project`` == ``ref_project``, the JSON columns byte for byte where every entry is
    orjson's own text (``exact`` None), else as JSON values."""
    if exact is None:
        exact = all(orjson_text(entry.data) for entry in entries)
    got, got_error = _run(project, entries, policy, skip_runs)
    want, want_error = _run(ref_project, entries, policy, skip_runs)
    assert got_error == want_error
    if want is None:
        return None
    assert got.failures == want.failures
    assert got.run_events.equals(want.run_events) and got.run_events.schema == RUN_EVENTS_SCHEMA
    assert got.archive.equals(want.archive) and got.archive.schema == ARCHIVE_SCHEMA
    assert got.results.schema == want.results.schema == RESULTS_SCHEMA
    assert got.results.num_rows == want.results.num_rows
    columns = [n for n in RESULTS_SCHEMA.names if exact or n not in JSON_COLUMNS]
    assert got.results.select(columns).equals(want.results.select(columns)), _first_difference(got, want)
    if not exact:
        for name in JSON_COLUMNS:
            texts, ref_texts = got.results.column(name).to_pylist(), want.results.column(name).to_pylist()
            assert [orjson.loads(t) for t in texts] == [orjson.loads(t) for t in ref_texts], name
    return got


def _first_difference(got: Projection, want: Projection) -> str:
    for name in RESULTS_SCHEMA.names:
        a, b = got.results.column(name).to_pylist(), want.results.column(name).to_pylist()
        if a != b:
            k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
            return f"{name} row {k}: {a[k] if k is not None else a!r} != {b[k] if k is not None else b!r}"
    return "?"


def compact(value: Any) -> bytes:
    """orjson's text, or (for integers orjson cannot write) the same compact layout by json."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def envelope(kind: str = "ResultsSynced", *, payload: Any = None, dumps=compact, **fields: Any) -> bytes:
    event = {"event_id": "e.1", "type": kind, "schema_version": 1, "agent": "agent-a", "run": "run-1",
             "at": "2026-11-21T10:00:00.000Z", "payload": payload}
    event.update(fields)
    return dumps(event)


def results_event(results: list[Any], **fields: Any) -> bytes:
    return envelope(payload={"sync_id": "s", "source": "ci", "results": results}, **fields)


def entries_of(datas: Iterable[bytes]) -> list[Entry]:
    return [Entry(k % 3, f"{1700000000000 + k}-{k % 2}", data) for k, data in enumerate(datas)]


# --- realistic batches -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_factory_batches_are_projected_as_before(seed: int) -> None:
    rng = random.Random(seed)
    batch = make_batch(60, seed=seed)
    for k, result in enumerate(batch):  # and the slower paths: calls out of order, failures, statuses
        calls = result["tools_called"]
        if k % 4 == 1:
            for call in calls:
                call["order"] = rng.randrange(4)
        elif k % 4 == 2:
            result["tools_called"] = [dict(c, order=None) for c in calls[::-1]]
        result["status"] = [None, "failed", "passed", "error", None, None][k % 6]
        if k % 5 == 0:
            result["llm_calls"][0]["model"] = rng.choice(["mystery-model", "claude-3-5-sonnet-20241022", None])
    datas, k = [], 0
    while k < len(batch):
        n = rng.choice([1, 1, 1, 2, 3])
        datas.append(results_event(batch[k:k + n], event_id=f"e.{k}", run=f"run-{k % 4}",
                                   at=rng.choice(["2026-11-21T10:00:00.000Z", "2026-11-21T12:00:01+02:00",
                                                  "2026-11-21T10:00:01", None])))
        k += n
    datas.insert(3, envelope("RunCreated", payload={"source": "ci", "mode": "streaming"}))
    datas.append(envelope("RunCompleted", payload={"source": "ci"}))
    datas.insert(5, b"not json")
    for policy in (DEFAULT_POLICY, OVERRIDES):
        got = assert_same(entries_of(datas), policy=policy, skip_runs=frozenset({("agent-a", "run-2")}), exact=True)
        assert got.results.num_rows > 0 and len(got.failures) == 1


def test_the_benchmark_events_are_projected_as_before() -> None:
    from bench.score import events

    assert_same(entries_of(events(500)), exact=True)


# --- generated events --------------------------------------------------------------------------

TOOLS = ["search_knowledge_base", "get_shipping_rates", "escalate_to_human", "delete_account", "check_permissions",
         "export_data", "lookup_order", "get_tracking"]
texts = st.one_of(st.none(), st.sampled_from(["", "ok", "Straße ǅemal é \u2028 \"q\" \\ /", "Request timed out"]),
                  st.text(max_size=12))
names = st.sampled_from(TOOLS)
numbers = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, -0.0, 1.0, 1e16, 1e-7, 100000.0, 2**64]))
free_json = st.recursive(st.one_of(st.none(), st.booleans(), numbers, texts),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(st.sampled_from(["a", "b", "é", "order"]), inner,
                                                                 max_size=3)), max_leaves=8)
calls = st.fixed_dictionaries({}, optional={
    "name": st.one_of(names, st.none()),
    "order": st.one_of(st.none(), st.integers(-2, 3)),
    "error": texts,
    "arguments": st.dictionaries(st.sampled_from(["q", "limit"]), free_json, max_size=2),
    "result": free_json,
    "duration_ms": st.floats(0, 500),
})
llm_calls = st.fixed_dictionaries({}, optional={
    "model": st.one_of(st.none(), st.sampled_from(["gpt-4o-mini", "openai/gpt-4o-2024-08-06", "claude-haiku-4-5",
                                                    "mystery-model", ""])),
    "input_tokens": st.one_of(st.none(), st.integers(0, 5000)),
    "output_tokens": st.one_of(st.none(), st.integers(0, 500)),
    "provider": st.just("openai"),
    "latency_ms": st.floats(0, 2000),
})
string_lists = st.one_of(st.none(), st.lists(names, max_size=3))
results = st.fixed_dictionaries(
    {"result_id": st.sampled_from(["r-1", "r-2", "é"]), "scenario_id": st.just("sc"), "user_message": texts.filter(
        lambda t: t is not None)},
    optional={
        "description": texts, "complexity": st.sampled_from([None, "simple", "moderate", "complex", "odd"]),
        "target_failure": st.sampled_from([None, "safety", "knowledge"]), "expected_behavior": st.sampled_from(
            [None, "", "Escalate to a human agent.", "Answer from the knowledge base."]),
        "expected_tools": string_lists, "tool_match": st.sampled_from([None, "strict", "unordered", "subset",
                                                                        "superset"]),
        "forbidden_tools": string_lists, "response_must_include": st.one_of(st.none(), st.lists(
            st.sampled_from(["policy", "14 days", "é"]), max_size=2)),
        "response_must_not_include": st.one_of(st.none(), st.lists(st.sampled_from(["deleted"]), max_size=1)),
        "agent_response": texts, "tools_called": st.one_of(st.none(), st.lists(calls, max_size=4)),
        "llm_calls": st.one_of(st.none(), st.lists(llm_calls, max_size=3)),
        "trace": st.one_of(st.none(), free_json, st.lists(st.fixed_dictionaries(
            {"at": st.just("2026-11-21T10:00:00Z"), "kind": st.sampled_from(["message", "llm_call"])},
            optional={"data": free_json}), max_size=3)),
        "duration_ms": st.one_of(st.none(), st.integers(0, 10**6), st.floats(0, 10**6)),
        "status": st.sampled_from([None, "passed", "failed", "error"]), "error": texts,
        "failure_category": st.sampled_from([None, "tools", "security", "vibes"]),
        "unknown_key": free_json,
    })
# values of a wrong type: the view refuses them, the dict path reads (or refuses) them as before
odd_values = st.sampled_from([7, 1.5, True, "x", [], {}, None, [1], {"a": 1}, -1, 2**64])
odd_keys = st.sampled_from(["result_id", "scenario_id", "user_message", "description", "tools_called", "llm_calls",
                            "expected_tools", "tool_match", "duration_ms", "status", "error", "trace"])
call_keys = st.sampled_from(["name", "order", "error", "model", "input_tokens", "output_tokens"])


def _dumps(how: str):
    if how == "orjson":
        return compact
    if how == "json":  # spaces, \\u escapes: the logged text is not orjson's
        return lambda value: json.dumps(value).encode()
    return lambda value: json.dumps(value, indent=1, ensure_ascii=False).encode()


@st.composite
def events(draw) -> bytes:
    """One entry's bytes."""
    how = draw(st.sampled_from(["orjson", "orjson", "orjson", "json", "pretty"]))
    dumps = _dumps(how)
    kind = draw(st.sampled_from(["ResultsSynced"] * 6 + ["RunCreated", "RunCompleted", "RunDeleted", "Mystery",
                                                         "poison"]))
    extra: dict[str, Any] = {}
    if draw(st.integers(0, 9)) == 0:
        extra[draw(st.sampled_from(["schema_version", "at", "agent", "run", "event_id", "type"]))] = draw(
            st.sampled_from([2, None, 1.0, True, "2026-11-21", "not a date", 5, "run-2"]))
    if kind == "poison":
        return draw(st.sampled_from([b"", b"{", b"[]", b"null", b'{"type": "ResultsSynced"}', b"\xff\xfe",
                                     b'{"type":"RunCreated","agent":"a","run":"r","at":null,"payload":[]}']))
    if kind != "ResultsSynced":
        payload = draw(st.fixed_dictionaries({}, optional={"source": st.sampled_from(["ci", None, 3]),
                                                           "mode": st.sampled_from(["sync", "streaming", None])}))
        data = envelope(kind, payload=payload, dumps=dumps, **extra)
    else:
        batch = draw(st.lists(results, max_size=3))
        if batch and draw(st.integers(0, 4)) == 0:  # a value of the wrong type somewhere
            target = draw(st.sampled_from(batch))
            if draw(st.booleans()) and target.get("tools_called"):
                draw(st.sampled_from(target["tools_called"]))[draw(call_keys)] = draw(odd_values)
            elif draw(st.booleans()) and target.get("llm_calls"):
                draw(st.sampled_from(target["llm_calls"]))[draw(call_keys)] = draw(odd_values)
            else:
                target[draw(odd_keys)] = draw(odd_values)
        if batch and draw(st.integers(0, 9)) == 0:
            del draw(st.sampled_from(batch))[draw(st.sampled_from(["result_id", "scenario_id", "user_message"]))]
        payload: Any = {"sync_id": "s", "source": draw(st.sampled_from(["ci", "api", None])), "results": batch}
        if draw(st.integers(0, 14)) == 0:
            payload = draw(st.sampled_from([None, [], {"results": batch}, {"source": "ci"}, {"results": 3,
                                                                                             "source": "ci"}]))
        data = envelope(payload=payload, dumps=dumps, **extra)
    return data


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(events(), min_size=1, max_size=6),
       policy=st.sampled_from([DEFAULT_POLICY, OVERRIDES]), skip=st.booleans())
def test_generated_events_are_projected_as_before(batch, policy, skip) -> None:
    skip_runs = frozenset({("agent-a", "run-1")}) if skip else frozenset()
    assert_same(entries_of(batch), policy=policy, skip_runs=skip_runs)
    for data in batch:  # each alone too: one entry's rows never depend on the others
        assert_same(entries_of([data]), policy=policy, skip_runs=skip_runs)


# --- the edges, one by one ---------------------------------------------------------------------

BASE = {"result_id": "r", "scenario_id": "sc", "user_message": "hi"}


@pytest.mark.parametrize("data", [
    b"not json", b"", b"[1, 2]", b'"text"',
    envelope("Mystery", payload={}), envelope(payload={"source": "ci", "results": [BASE]}, schema_version=2),
    envelope(payload={"source": "ci", "results": [BASE]}, schema_version=None),
    envelope("RunCreated", payload=None), envelope("RunCreated", payload=[1]), envelope(payload=None),
    envelope(payload={"results": [BASE]}), envelope(payload={"source": "ci"}),
    envelope(payload={"source": "ci", "results": [{"scenario_id": "sc", "user_message": "hi"}]}),
    envelope(payload={"source": "ci", "results": [dict(BASE, tools_called=[{"name": "a", "order": "1"},
                                                                             {"name": "b", "order": 0}])]}),
    envelope(payload={"source": "ci", "results": [dict(BASE, llm_calls=[{"model": "gpt-4o", "input_tokens": -1}])]}),
    envelope(payload={"source": "ci", "results": [dict(BASE, tool_match="sideways")]}),
    envelope(payload={"source": "ci", "results": [BASE]}, at="yesterday"),
    results_event([dict(BASE, trace=[{"text": "\ud800"}])], dumps=lambda v: json.dumps(v).encode()),  # lone surrogate
    results_event([dict(BASE, trace=[{"text": "x"}])]).replace(b'"x"', b'"\xff"'),  # invalid UTF-8 in a skipped part
    results_event([dict(BASE, unknown=[[[[1]]]])]).replace(b"[[[[1]]]]", b"[" * 1100 + b"]" * 1100),  # too deep
    results_event([dict(BASE, tools_called=[{"name": "a"}])]) + b" trailing",
])  # fmt: skip
def test_poison_entries_fail_with_the_same_reason_and_do_not_block_the_batch(data: bytes) -> None:
    good = results_event([dict(BASE, tools_called=[{"name": "search_knowledge_base", "order": 0}])])
    got = assert_same(entries_of([good, data, good]))
    assert got.results.num_rows == 2 and got.archive.num_rows == 2 and len(got.failures) == 1


@pytest.mark.parametrize("data", [
    results_event([dict(BASE, tools_called=[{"name": "b", "order": 2, "arguments": {"x": 1}},
                                            {"name": "a", "order": 1, "error": "E"}, {"name": "c", "order": 1}])]),
    results_event([dict(BASE, tools_called=[{"name": "b", "order": 2}, {"name": "a"}])]),  # not all have an order
    results_event([dict(BASE, tools_called=[], llm_calls=[], trace=[])]),
    results_event([dict(BASE, tools_called=None, llm_calls=None, trace=None)]),
    *[results_event([dict(BASE, trace=trace)]) for trace in ([], {}, "", 0, 0.0, False, "x", {"a": 1}, [0], 1.5)],
    results_event([dict(BASE, llm_calls=[{"model": "mystery"}, {"model": "gpt-4o", "input_tokens": 10}])]),
    results_event([dict(BASE, llm_calls=[{"model": "mystery", "input_tokens": 10}])]),
    results_event([dict(BASE, llm_calls=[{}])]),
    results_event([dict(BASE, tools_called=[{"name": None, "error": "boom"}], status="error", error="")]),
    results_event([dict(BASE, trace=[{"n": 18446744073709551617, "f": 1e16, "g": 1e-7, "z": -0.0}])]),
    results_event([]),
    results_event([BASE, BASE]),
])  # fmt: skip
def test_edge_results_are_projected_as_before(data: bytes) -> None:
    assert_same(entries_of([data]))
    for how in ("json", "pretty"):  # the same values logged as other JSON text
        assert_same(entries_of([_dumps(how)(json.loads(data))]))


def test_a_skipped_run_keeps_its_archive_row_whatever_its_payload() -> None:
    datas = [envelope(payload={"results": 3}), results_event([BASE]), results_event([BASE], run="run-2")]
    got = assert_same(entries_of(datas), skip_runs=frozenset({("agent-a", "run-1")}))
    assert got.results.num_rows == 1 and got.archive.num_rows == 3


def test_json_columns_keep_the_logged_text() -> None:
    """The one difference from the reference: the text as logged (here with spaces), not re-encoded."""
    data = b'{"event_id":"e","type":"ResultsSynced","agent":"a","run":"r","at":null,"payload":{"source":"ci",' \
           b'"results":[{"result_id":"r","scenario_id":"s","user_message":"u","tools_called":[ {"name": "a"} ],' \
           b'"trace":[{"k": "\\u00e9"}]}]}}'
    row = project(entries_of([data]), PRICES).results.to_pylist()[0]
    assert row["tools_called_json"] == '[ {"name": "a"} ]' and row["trace_json"] == '[{"k": "\\u00e9"}]'
    assert row["tool_sequence"] == ["a"]
    assert_same(entries_of([data]), exact=False)


def test_a_number_beyond_a_double_in_free_form_json_is_kept() -> None:
    """orjson refused the whole event (``1e400``); the view skips free-form JSON unparsed and keeps it."""
    data = results_event([dict(BASE, trace=[{"n": 1}])]).replace(b'{"n":1}', b'{"n":1e400}')
    assert len(ref_project(entries_of([data]), PRICES).failures) == 1
    got = project(entries_of([data]), PRICES)
    assert not got.failures and got.results.column("trace_json").to_pylist() == ['[{"n":1e400}]']
