"""The scorer's view of a stream event: msgspec structs with just what scoring reads.

``project`` decodes each envelope with ``ENVELOPE`` instead of building the whole event as
Python objects. Tool calls, LLM calls and the trace stay ``msgspec.Raw`` (the JSON text as
logged: the projection stores it as it is) and only the few fields scoring needs are read
from them (``CALLS``, ``LLM_CALLS``). The types are strict on purpose: whatever they refuse
(a number where a string belongs, a missing key, a bool for an int) is handed to the general
per-entry path, which reads the event as a dict exactly as before. So a view must never
accept an event that the dict path would read differently; ``acceptable`` adds the checks
orjson makes and msgspec does not make on the parts it skips.
"""

from __future__ import annotations

from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from services.scorer.core.classify import ALGORITHM_VERSION
from services.scorer.core.classify_view import classify_view
from services.scorer.core.facts import _needs_sort
from services.scorer.core.pricing import ModelPrice, PriceTable
from services.scorer.core.risk import RiskPolicy

if TYPE_CHECKING:
    from services.scorer.core.project import Entry

# orjson reads integers above 2**64 - 1 as floats, msgspec as ints: the view takes only
# the ones both read alike (and that fit the int64 columns).
Int = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
NULL = Raw(b"null")


class CallView(Struct, gc=False):
    """One tool call, as the verdict and ``tool_sequence`` read it."""

    name: str | None = None
    order: Int | None = None
    error: str | None = None


class LLMCallView(Struct, gc=False):
    model: str | None = None
    input_tokens: Int | None = None
    output_tokens: Int | None = None


class ResultView(Struct, gc=False):
    """A result with the keys ``_result_row`` and ``classify`` read; the rest is skipped."""

    result_id: str
    scenario_id: str
    user_message: str
    description: str | None = None
    complexity: str | None = None
    target_failure: str | None = None
    expected_behavior: str | None = None
    expected_tools: list[str] | None = None
    tool_match: str | None = None
    forbidden_tools: list[str] | None = None
    response_must_include: list[str] | None = None
    response_must_not_include: list[str] | None = None
    agent_response: str | None = None
    tools_called: Raw = NULL
    llm_calls: Raw = NULL
    trace: Raw = NULL
    duration_ms: int | float | None = None
    status: str | None = None
    error: str | None = None
    failure_category: str | None = None


class PayloadView(Struct, gc=False):
    """The payload of any event type: ResultsSynced has results and source, the run events
    source and mode. UNSET tells a missing key from a null one."""

    results: list[ResultView] | UnsetType = UNSET
    source: str | None | UnsetType = UNSET
    mode: str | None = None


class EnvelopeView(Struct, gc=False):
    event_id: str
    type: str
    agent: str
    run: str
    at: str | None
    payload: PayloadView
    schema_version: Int = 1


ENVELOPE = msgspec.json.Decoder(EnvelopeView)
CALLS = msgspec.json.Decoder(list[CallView] | None)
CALL_SPANS = msgspec.json.Decoder(list[Raw])
LLM_CALLS = msgspec.json.Decoder(list[LLMCallView] | None)

def acceptable(data: bytes) -> bool:
    """Whether msgspec accepting ``data`` implies orjson accepts it too, as far as is cheap to
    tell: on the values it skips (unknown keys, ``Raw``) msgspec checks the JSON syntax but
    not that the text is valid UTF-8 (orjson refuses invalid UTF-8 and surrogates, as
    ``bytes.decode`` does). Nor does it check that a number there fits a double (orjson
    refuses ``1e400``): looking for one would cost a scan of every event, so such a number
    is stored as it was sent rather than making its event a failure."""
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def truthy(span: bytes) -> bool:
    """``bool`` of the JSON value ``span`` (one valid JSON value, no surrounding whitespace)."""
    first = span[:1]
    if first == b"[" or first == b"{":
        return bool(span[1:-1].strip())
    if first == b'"':
        return len(span) > 2
    if first == b"t":
        return True
    if first == b"n" or first == b"f":
        return False
    return float(span) != 0


def parse_time(value: str | None) -> datetime | None:
    """ISO text to an aware datetime; a naive time is taken as UTC."""
    if not value:
        return None
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# What one entry reads to: (type, agent, run, at, result rows, run event row or None); a row is
# a tuple in the order of its schema.
Read = tuple[str, Any, Any, datetime | None, list[tuple], tuple | None]
_RUN_EVENTS = frozenset({"RunCreated", "RunCompleted", "RunDeleted"})
_NAME, _ORDER, _ERROR = attrgetter("name"), attrgetter("order"), attrgetter("error")


class ViewReader:
    """Reads the entries of one batch through the view, with that batch's memos (times, prices)."""

    def __init__(self, prices: PriceTable, policy: RiskPolicy, skip_runs: frozenset[tuple[str, str]]) -> None:
        self.prices, self.policy, self.skip_runs = prices, policy, skip_runs
        self._times: dict[str | None, datetime | None] = {}  # a batch repeats a few ``at`` texts
        self._prices: dict[str | None, ModelPrice | None] = {}

    def read(self, entry: Entry) -> Read | None:
        """The entry's rows as ``project``'s dict path gives them, or None where the view does
        not apply (that path then reads it): tool calls, LLM calls and the trace are the JSON
        text they were logged with rather than its re-encoding (the same JSON values)."""
        data = entry.data
        if not acceptable(data):
            return None
        try:
            event = ENVELOPE.decode(data)
            kind, agent, run, payload = event.type, event.agent, event.run, event.payload
            if event.schema_version != 1:
                return None
            at = self._times.get(event.at, self)  # self: not seen yet
            if at is self:
                at = self._times[event.at] = parse_time(event.at)
            rows: list[tuple] = []
            run_event = None
            if kind == "ResultsSynced":
                if (agent, run) not in self.skip_runs:
                    results, source = payload.results, payload.source
                    if results is UNSET or (results and source is UNSET):
                        return None  # the dict path's KeyError
                    for result in results:
                        rows.append(self._row(result, entry, event, at, source))
            elif kind in _RUN_EVENTS:
                source = None if payload.source is UNSET else payload.source
                run_event = (agent, run, kind, entry.stream_id, entry.partition, at, source, payload.mode)
            else:
                return None
        except Exception:  # noqa: BLE001 - the dict path reads it, and says why it cannot
            return None
        return kind, agent, run, at, rows, run_event

    def _price(self, model: str | None) -> ModelPrice | None:
        """``PriceTable.price``, each model resolved once per batch."""
        price = self._prices.get(model, self)
        if price is self:
            price = self._prices[model] = self.prices.price(model)
        return price

    def _row(self, result: ResultView, entry: Entry, event: EnvelopeView, at: datetime | None,
             source: str | None) -> tuple:
        """``project._result_row`` of a result view."""
        tools_span = result.tools_called
        calls = CALLS.decode(tools_span)
        if calls:
            tools_json = bytes(tools_span)
            if len(calls) > 1:
                orders = list(map(_ORDER, calls))
                if _needs_sort(orders):  # stored sorted by order, as classify reads them
                    position = sorted(range(len(orders)), key=orders.__getitem__)
                    calls = [calls[k] for k in position]
                    spans = CALL_SPANS.decode(tools_span)
                    tools_json = b"[" + b",".join([bytes(spans[k]) for k in position]) + b"]"
            names = list(map(_NAME, calls))
            called = tuple(names) if None not in names else tuple([n if n is not None else "" for n in names])
            verdict = classify_view(result, called, list(map(_ERROR, calls)), self.policy)
        else:
            tools_json, names = b"[]", []
            verdict = classify_view(result, (), [], self.policy)
        llm_span = result.llm_calls
        llm_calls = LLM_CALLS.decode(llm_span)
        costs, total_cost, cost_known, any_known, tokens_in, tokens_out = [], 0.0, True, False, 0, 0
        if llm_calls:
            llm_json = bytes(llm_span)
            for call in llm_calls:  # PriceTable.estimate_cost, inlined
                n_in, n_out = call.input_tokens or 0, call.output_tokens or 0
                if n_in < 0 or n_out < 0:
                    raise ValueError("token counts must be >= 0")
                price = self._price(call.model)
                if price is None:
                    costs.append(None)
                    cost_known = False
                else:
                    cost = price.cost(n_in, n_out)
                    costs.append(cost)
                    any_known = True
                    total_cost += cost
                tokens_in += n_in
                tokens_out += n_out
        else:
            llm_json = b"[]"
        trace = bytes(result.trace)
        return (
            event.agent, event.run, result.result_id, entry.stream_id, entry.partition, event.event_id, at,
            source, result.scenario_id, result.description or "", result.complexity, result.target_failure,
            result.user_message, result.expected_behavior, result.agent_response, result.expected_tools or [],
            result.tool_match or "strict", result.forbidden_tools or [], names, tools_json,
            llm_json, costs, trace if truthy(trace) else b"[]", result.duration_ms, result.status,
            result.error, verdict.status, verdict.category, verdict.subtype, verdict.severity,
            verdict.reason or None, verdict.missing, verdict.extra, verdict.reordered, tokens_in, tokens_out,
            total_cost if any_known or not llm_calls else None, cost_known,
            None, None, None, None,  # score terms: filled in vectorised for the whole batch
            ALGORITHM_VERSION,
        )  # in RESULTS_SCHEMA order
