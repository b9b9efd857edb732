"""A test-case result reduced to what the verdict's checks read (``CaseFacts``). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.scorer.core.sequence import ToolDiff, diff_tools


@dataclass(frozen=True)
class CaseFacts:
    """A result reduced to what the checks read; defaults are those of ``TestCaseResult``."""

    called: tuple[str, ...]
    tool_errors: tuple[tuple[str, str], ...]
    expected_tools: tuple[str, ...]
    tool_match: str
    forbidden_tools: tuple[str, ...]
    must_include: tuple[str, ...]
    must_not_include: tuple[str, ...]
    agent_response: str | None
    expected_behavior: str
    client_status: str | None
    error: str | None
    failure_category: str | None
    target_failure: str | None
    diff: ToolDiff
    result: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def has_response(self) -> bool:
        return bool(self.agent_response and self.agent_response.strip())


def _get(item: Any, key: str, default: Any = None) -> Any:
    if type(item) is dict:  # the common case, ahead of the slower ABC check
        value = item.get(key)
    else:
        value = item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)
    return default if value is None else value


# Fast constructors for the two frozen dataclasses, used on the hot path: a frozen dataclass's
# __init__ sets every field through object.__setattr__, which costs more than all of the checks
# together. Filling the instance dict directly gives the same object (same fields, equality,
# hash, repr and pickling); neither class has a __post_init__, which this would skip.
_new = object.__new__


def case_facts(result: Mapping[str, Any]) -> CaseFacts:
    """Read a result dict; calls are ordered by ``order`` when every call has one, else by list position."""
    if type(result) is not dict:
        return _case_facts(result)
    get = result.get
    calls = get("tools_called")
    called: list[str] = []
    errors: list[Any] = []  # each call's error
    failed = False  # some call has an error
    if calls is not None:
        if type(calls) is not list:
            return _case_facts(result)
        orders = []
        for call in calls:
            if type(call) is not dict:
                return _case_facts(result)
            name = call.get("name")
            called.append(name if type(name) is str else "" if name is None else str(name))
            orders.append(call.get("order"))
            error = call.get("error")
            errors.append(error)
            if error:
                failed = True
        if len(orders) > 1 and _needs_sort(orders):
            # the stable sort of the calls by order, as the general path does it
            position = sorted(range(len(orders)), key=orders.__getitem__)
            called = [called[k] for k in position]
            errors = [errors[k] for k in position]
    tool_errors = tuple([(n, str(e)) for n, e in zip(called, errors) if e]) if failed else ()
    expected = get("expected_tools")
    expected = () if expected is None else tuple(expected)
    tool_match = get("tool_match")
    if tool_match is None:
        tool_match = "strict"
    forbidden = get("forbidden_tools")
    must_include = get("response_must_include")
    must_not_include = get("response_must_not_include")
    expected_behavior = get("expected_behavior")
    called_tuple = tuple(called)
    facts = _new(CaseFacts)
    facts.__dict__.update(
        called=called_tuple,
        tool_errors=tool_errors,
        expected_tools=expected,
        tool_match=tool_match,
        forbidden_tools=() if forbidden is None else tuple(forbidden),
        must_include=() if must_include is None else tuple(must_include),
        must_not_include=() if must_not_include is None else tuple(must_not_include),
        agent_response=get("agent_response"),
        expected_behavior="" if expected_behavior is None else expected_behavior,
        client_status=get("status"),
        error=get("error") or None,
        failure_category=get("failure_category"),
        target_failure=get("target_failure"),
        diff=diff_tools(expected, called_tuple, tool_match),
        result=result,
    )
    return facts


def _needs_sort(orders: list[Any]) -> bool:
    """Whether the calls are to be sorted by these orders (every call has one) and are not yet.

    A stable sort leaves the list as it is exactly when no order is less than the one before
    it (the sort itself finds such an ascending run with the same comparisons).
    """
    previous = orders[0]
    if previous is None:
        return False
    for order in orders[1:]:
        if order is None:
            return False
    for order in orders[1:]:
        if order < previous:
            return True
        previous = order
    return False


def _case_facts(result: Mapping[str, Any]) -> CaseFacts:
    """``case_facts`` for any mapping or object, and for calls that must be sorted by ``order``."""
    calls = list(_get(result, "tools_called", []))
    if calls and all(_get(call, "order") is not None for call in calls):
        calls.sort(key=lambda call: _get(call, "order"))
    called = tuple(str(_get(call, "name", "")) for call in calls)
    expected = tuple(_get(result, "expected_tools", []))
    tool_match = _get(result, "tool_match", "strict")
    return CaseFacts(
        called=called,
        tool_errors=tuple((str(_get(c, "name", "")), str(_get(c, "error"))) for c in calls if _get(c, "error")),
        expected_tools=expected,
        tool_match=tool_match,
        forbidden_tools=tuple(_get(result, "forbidden_tools", [])),
        must_include=tuple(_get(result, "response_must_include", [])),
        must_not_include=tuple(_get(result, "response_must_not_include", [])),
        agent_response=_get(result, "agent_response"),
        expected_behavior=_get(result, "expected_behavior", ""),
        client_status=_get(result, "status"),
        error=_get(result, "error") or None,
        failure_category=_get(result, "failure_category"),
        target_failure=_get(result, "target_failure"),
        diff=diff_tools(expected, called, tool_match),
        result=result,
    )
