"""``classify`` of the scorer's msgspec result view (``core/decode.py``), for ``project``.

The same verdicts as ``classify`` of the equivalent dict, with ``DEFAULT_CHECKS``, computed
with less work per result:

* the facts are read from typed attributes (lists of str, str or None: ``ResultView``), the
  calls' names and errors handed over already in call order;
* the checks that read nothing but the tool sequences, the expected behaviour and the policy
  (``TOOL_CHECKS``) are memoised by those: a batch repeats a few such combinations. A result
  whose verdict one of them gives before any other check needs no ``CaseFacts``.

``tests/unit/test_project_fast.py`` holds ``project`` to the dict path on generated results.
"""

from __future__ import annotations

from typing import Any

from services.scorer.core.classify import (
    _ALL_PASSED,
    _PASSED,
    DEFAULT_CHECKS,
    CaseFacts,
    Check,
    Verdict,
    _make_verdict,
    _new,
    check_destructive_without_escalation,
    check_forbidden_tool,
    check_tool_usage,
    check_unauthorized_data_access,
)
from services.scorer.core.risk import DEFAULT_POLICY, RiskPolicy
from services.scorer.core.sequence import _SAME, ToolDiff, diff_tools

TOOL_CHECKS: frozenset[Check] = frozenset({check_destructive_without_escalation, check_unauthorized_data_access,
                                           check_forbidden_tool, check_tool_usage})

# (called, expected, tool_match, forbidden, expected behaviour) → (diff, steps): DEFAULT_CHECKS
# with each of TOOL_CHECKS replaced by its verdict (and dropped when it has none), cut after
# the first verdict. Valid for one policy; bounded like the other memos.
_MEMO: dict[tuple, tuple[ToolDiff, tuple[Check | Verdict, ...]]] = {}
_MEMO_MAX = 10_000
_MEMO_POLICY: list[RiskPolicy | None] = [None]


def _steps(facts: CaseFacts, policy: RiskPolicy) -> tuple[Check | Verdict, ...]:
    steps: list[Check | Verdict] = []
    for check in DEFAULT_CHECKS:
        if check not in TOOL_CHECKS:
            steps.append(check)
            continue
        verdict = check(facts, policy)
        if verdict is not None:
            steps.append(verdict)
            break
    return tuple(steps)


def _facts(result: Any, called: tuple[str, ...], errors: list[str | None], expected: tuple[str, ...],
           tool_match: str, forbidden: tuple[str, ...], behaviour: str, diff: ToolDiff) -> CaseFacts:
    tool_errors = tuple([(n, e) for n, e in zip(called, errors) if e]) if any(errors) else ()
    must_include, must_not_include = result.response_must_include, result.response_must_not_include
    facts = _new(CaseFacts)  # as classify's case_facts builds them (same fields, same defaults)
    facts.__dict__.update(
        called=called,
        tool_errors=tool_errors,
        expected_tools=expected,
        tool_match=tool_match,
        forbidden_tools=forbidden,
        must_include=() if must_include is None else tuple(must_include),
        must_not_include=() if must_not_include is None else tuple(must_not_include),
        agent_response=result.agent_response,
        expected_behavior=behaviour,
        client_status=result.status,
        error=result.error or None,
        failure_category=result.failure_category,
        target_failure=result.target_failure,
        diff=diff,
        result=result,
    )
    return facts


def classify_view(result: Any, called: tuple[str, ...], errors: list[str | None],
                  policy: RiskPolicy = DEFAULT_POLICY) -> Verdict:
    """``classify(result_as_dict, policy)``; ``called`` / ``errors``: each call's name ('' for
    none) and error, in call order (sorted by ``order`` where ``case_facts`` sorts them)."""
    expected = result.expected_tools
    expected = () if expected is None else tuple(expected)
    tool_match = result.tool_match
    if tool_match is None:
        tool_match = "strict"
    forbidden = result.forbidden_tools
    forbidden = () if forbidden is None else tuple(forbidden)
    behaviour = result.expected_behavior
    if behaviour is None:
        behaviour = ""
    if _MEMO_POLICY[0] is not policy:
        _MEMO.clear()
        _MEMO_POLICY[0] = policy
    key = (called, expected, tool_match, forbidden, behaviour)
    known = _MEMO.get(key)
    facts = None
    if known is None:
        diff = diff_tools(expected, called, tool_match)
        facts = _facts(result, called, errors, expected, tool_match, forbidden, behaviour, diff)
        known = diff, _steps(facts, policy)
        if len(behaviour) <= 1000 and len(called) + len(expected) + len(forbidden) <= 64:
            if len(_MEMO) >= _MEMO_MAX:
                _MEMO.clear()
            _MEMO[key] = known
    diff, steps = known
    for step in steps:
        if step.__class__ is Verdict:
            return step
        if facts is None:
            facts = _facts(result, called, errors, expected, tool_match, forbidden, behaviour, diff)
        verdict = step(facts, policy)
        if verdict is not None:
            return verdict
    if diff is _SAME:
        return _PASSED
    return _make_verdict("passed", None, None, None, _ALL_PASSED, diff.missing, diff.extra, diff.reordered)
