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

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

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
