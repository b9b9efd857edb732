"""The RE2 pre-check may only skip results the full redactor would leave unchanged."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.prefilter import flag_for_redaction, may_need_redaction
from services.ingest.redact import redact_result
from tests.factories import make_result

pytestmark = pytest.mark.unit

PIECES = st.sampled_from(
    ["jane.doe@example.com", "x@mail.163.com", "0@0.0.aa", "123-45-6789", "4111 1111 1111 1111", "4111111111111111", "+1 415 555 2671",
     "(415) 555-2671", "415.555.2671", "1-415-555-2671", "+4915112345678", "2026-11-21T10:00:00.120Z", "84.0",
     "v1.2.3", "order 88123", "1,234.56", "hello", "tokens", "input_tokens", "author", "\n", " ", "-", "_", ".",
     "password", "api_key", "X-Auth-Token", "basic_auth", "user_ssn", "access_token", "token_count", "Session"]
)  # fmt: skip
TEXT = st.lists(PIECES, max_size=6).map(" ".join) | st.lists(PIECES, max_size=4).map("".join)
KEY = TEXT | PIECES
LEAF = TEXT | st.integers() | st.floats(allow_nan=False) | st.none() | st.booleans()
TREE = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner, max_size=3), max_leaves=8)


@settings(max_examples=500, deadline=None)
@given(user_message=TEXT, agent_response=TEXT, arguments=st.dictionaries(KEY, TREE, max_size=3), result=TREE,
       data=st.dictionaries(KEY, TREE, max_size=3))  # fmt: skip
def test_whatever_the_redactor_would_change_is_flagged(user_message, agent_response, arguments, result, data):
    r = make_result(1)
    r["user_message"], r["agent_response"] = user_message, agent_response
    r["tools_called"][0]["arguments"], r["tools_called"][0]["result"] = arguments, result
    r["trace"][0]["data"] = data
    if redact_result(r) != r:
        assert may_need_redaction(msgspec.json.encode(r))


def test_ordinary_results_skip_the_redactor():
    assert not any(may_need_redaction(msgspec.json.encode(make_result(i))) for i in range(200))


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_one_scan_over_many_flags_the_same_results_as_one_scan_each(texts):
    encoded = [msgspec.json.encode({"user_message": t}) for t in texts]
    each = {n for n, data in enumerate(encoded) if may_need_redaction(data)}
    assert each <= flag_for_redaction(encoded)
