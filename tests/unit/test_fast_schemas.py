"""schemas.fast (msgspec, hot path) must never accept what schemas.wire (the contract) refuses."""

from __future__ import annotations

import copy

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from schemas import fast, wire
from tests.factories import make_batch

pytestmark = pytest.mark.unit

PAIRS = [
    (wire.ToolCall, fast.ToolCall),
    (wire.LLMCall, fast.LLMCall),
    (wire.TraceEvent, fast.TraceEvent),
    (wire.TestCaseResult, fast.TestCaseResult),
    (wire.SyncRequest, fast.SyncRequest),
    (wire.AppendResultsRequest, fast.AppendResultsRequest),
    # what the hot path decodes: the same top-level fields, results kept as raw spans
    (wire.SyncRequest, fast.SyncHead),
    (wire.AppendResultsRequest, fast.AppendHead),
]


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=lambda p: p.__name__)
def test_same_fields_same_required_same_defaults(model: type[BaseModel], struct):
    fields = {f.name: f for f in msgspec.structs.fields(struct)}
    assert set(fields) == set(model.model_fields)
    for name, info in model.model_fields.items():
        f = fields[name]
        assert info.is_required() == (f.required), name
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            fdefault = f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
            assert msgspec.json.encode(fdefault) == msgspec.json.encode(default), name  # Raw(b'null') is None


def normalized_pydantic(body: bytes) -> dict:
    return wire.SyncRequest.model_validate_json(body).model_dump(mode="json")


def normalized_fast(body: bytes) -> dict:
    decoded = fast.SYNC_DECODER.decode(body)
    return wire.SyncRequest.model_validate_json(msgspec.json.encode(decoded)).model_dump(mode="json")


def test_realistic_batch_decodes_to_the_same_values():
    body = orjson.dumps({"agent_name": "support-agent", "source": "ci", "results": make_batch(50)})
    assert normalized_fast(body) == normalized_pydantic(body)


TRICKY = st.sampled_from(
    ["", " ", "a", "a/b", "a..b", "..", "a\x00b", "x\ny", "-a", "ok-name", "x" * 65, "x" * 129, "x" * 257, "x" * 100_001,
     -1, 0, 1, 1.5, -0.5, "84", "true", True, False, None, [], {}, ["a"], [1], {"k": 1},
     "2026-11-21T10:00:00Z", "2026-11-21T10:00:00.120+02:00", "2026-11-21", "yesterday", 1732183200,
     "simple", "hard", "strict", "fuzzy", "passed", "pending", "mcp", "jenkins"]
)  # fmt: skip

PATHS = [
    ("agent_name",), ("test_run_id",), ("source",), ("complete",), ("results",),
    ("results", 0, "result_id"), ("results", 0, "scenario_id"), ("results", 0, "description"),
    ("results", 0, "complexity"), ("results", 0, "target_failure"), ("results", 0, "user_message"),
    ("results", 0, "expected_tools"), ("results", 0, "expected_tools", 0), ("results", 0, "tool_match"),
    ("results", 0, "forbidden_tools"), ("results", 0, "response_must_include"), ("results", 0, "agent_response"),
    ("results", 0, "tools_called"), ("results", 0, "tools_called", 0, "name"), ("results", 0, "tools_called", 0, "arguments"),
    ("results", 0, "tools_called", 0, "duration_ms"), ("results", 0, "tools_called", 0, "order"),
    ("results", 0, "tools_called", 0, "error"), ("results", 0, "llm_calls", 0, "model"),
    ("results", 0, "llm_calls", 0, "provider"), ("results", 0, "llm_calls", 0, "input_tokens"),
    ("results", 0, "llm_calls", 0, "latency_ms"), ("results", 0, "llm_calls", 0, "tools_offered"),
    ("results", 0, "trace", 0, "at"), ("results", 0, "trace", 0, "kind"), ("results", 0, "trace", 0, "name"),
    ("results", 0, "trace", 0, "data"), ("results", 0, "duration_ms"), ("results", 0, "status"),
    ("results", 0, "error"), ("results", 0, "failure_category"),
]  # fmt: skip

BASE = {"agent_name": "support-agent", "test_run_id": "tr_1", "source": "ci", "results": make_batch(1)}


def mutate(doc: dict, path: tuple, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), TRICKY), min_size=1, max_size=3))
def test_fast_path_never_accepts_what_the_contract_refuses(mutations):
    doc = BASE
    for path, value in mutations:
        try:
            doc = mutate(doc, path, value)
        except (TypeError, KeyError, IndexError):
            return  # the path no longer exists after an earlier mutation
    body = orjson.dumps(doc)
    try:
        fast.decode_sync(body)  # the hot path: per-result checks must agree with the whole-body decode
        hot_path_accepts = True
    except msgspec.ValidationError:
        hot_path_accepts = False
    try:
        fast_out = normalized_fast(body)
    except msgspec.ValidationError:
        assert not hot_path_accepts, "the per-result checks accepted what the mirror refuses"
        return
    assert hot_path_accepts, "the per-result checks refused what the mirror accepts"  # refused by the fast path: the pydantic path decides, as in production
    try:
        expected = normalized_pydantic(body)
    except ValidationError as exc:
        pytest.fail(f"fast path accepted a body the contract refuses: {exc}")
    assert fast_out == expected


def test_results_without_an_id_get_a_server_made_one_and_errors_say_which_result():
    results = make_batch(3)
    del results[1]["result_id"]
    _, batch = fast.decode_sync(orjson.dumps({"agent_name": "a", "results": results}))
    assert batch.ids == [results[0]["result_id"], None, results[2]["result_id"]]
    assert list(batch.unnamed) == [1] and batch.unnamed[1].scenario_id == results[1]["scenario_id"]
    results[2]["complexity"] = "hard"
    with pytest.raises(msgspec.ValidationError, match=r"\$\.results\[2\]\.complexity"):
        fast.decode_sync(orjson.dumps({"agent_name": "a", "results": results}))
