"""PII redaction of test-case results, applied before anything reaches the event log.

Pure: no I/O, and no module state but compiled regexes and frozen constants.

1. SSN ``ddd-dd-dddd`` / ``ddd dd dddd`` (same separator twice) -> ``[REDACTED:SSN]``, except
   numbers never issued: area 000, 666 or 9xx, group 00, serial 0000.
2. Card: 13-19 digits, one unbroken run or groups of 3+ digits joined by single spaces or
   dashes (``4111 1111 1111 1111``, ``3782-822463-10005``), only if they pass the Luhn check ->
   ``[REDACTED:CARD]``. In a longer grouped run (card plus year or CVV) the longest Luhn-valid
   span of whole groups is redacted.
3. Email: RFC 5322 atext local part (up to 256 chars), dotted LDH domain, TLD of 2+ chars ->
   ``[REDACTED:EMAIL]``.
4. Phone -> ``[REDACTED:PHONE]``, formatted shapes only: ``+`` then 8-17 digits in all (country
   code plus 7-14), up to two of ``space . - ( )`` between digits (``+1 415 555 2671``,
   ``+4915112345678``); North American ``(415) 555-2671``, ``(415)555-2671``, ``415-555-2671``,
   ``415.555.2671``, ``415 555 2671``, optionally after ``1-``/``1.``/``1 ``. A bare run of digits
   (``4155552671``, order numbers, epoch timestamps) is never a phone; dates, times, ISO
   timestamps, versions, prices and decimals never have these shapes.
   Rules 1, 2 and 4 only match whole tokens: not touching a letter, digit, ``_`` or ``+``, not
   after ``<digit>.`` / ``<digit>-`` and not before ``.``, ``-`` or ``(`` plus a digit, ``+`` or
   ``(`` (``0.4111111111111111``, ``v2-415-555-2671``, ``123-45-6789-0`` stay as they are).
5. Sensitive keys, in every dict below the top level of a result (tool ``arguments`` and
   ``result``, trace ``data``, anything nested in them, unknown keys of tool calls, LLM calls and
   trace events): the whole value, whatever its type, becomes ``[REDACTED]``. Keys are compared
   lowercased, camelCase humps split with ``_``. Sensitive: containing password, passwd,
   passphrase, pwd, secret, api key, authorization/authorisation, cookie, session, private key,
   credential, credit card, card number, cvv or cvc (``_``, ``-``, space or nothing between
   words); ending with token (``access_token``, ``idToken``, ``X-Auth-Token``); or having auth or
   ssn as a whole word (``auth``, ``basic_auth``, ``authHeader``, ``user_ssn``). Token counts
   (``tokens``, ``input_tokens``, ``max_tokens``, ``token_count``) and ``author``/``authored_by``
   are not sensitive. The result's own keys are schema keys, never sensitive.

Identifier fields are copied untouched: result_id, scenario_id, complexity, target_failure,
tool_match, status, failure_category, expected_tools, forbidden_tools, duration_ms; tool call
name/order/duration_ms; every LLM call field; trace at/kind/name/duration_ms. Every other
string is free text. Markers hold no digit and no ``@``: redacting twice equals redacting once.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "redact_result", "redact_text", "redact_value"]

REDACTED = "[REDACTED]"
_CARD, _EMAIL, _PHONE = "[REDACTED:CARD]", "[REDACTED:EMAIL]", "[REDACTED:PHONE]"
_MARKS = {"ssn": "[REDACTED:SSN]", "na": _PHONE, "nap": _PHONE, "intl": _PHONE}
_SEP = "\x1f"  # joins all strings (or keys) of one result: acts exactly like a string boundary

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KEY = re.compile(
    r"pass(?:word|wd|phrase)|pwd|secret|api[-_ ]?key|authori[sz]ation|cookie|session|private[-_ ]?key"
    r"|credential|credit[-_ ]?card|card[-_ ]?number|cvv|cvc|token\Z|(?<![a-z0-9])(?:auth|ssn)(?![a-z0-9])"
).search
# Every key _KEY accepts contains one of these (lowercased, keys joined by _SEP).
_KEY_HINTS = ("pass", "pwd", "secret", "key", "auth", "cookie", "session", "cred", "card", "cv", "ssn", "token\x1f")

# Emails: find "@domain" (literal prefix: fast scan), then read the local part backwards.
_AT_DOMAIN = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]")
_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+").match

# Rules 1, 2, 4 in one pattern. It opens with a plain character class so that sre skips prose
# in C; the branch is then picked by looking back at that first character.
_NA_TAIL = r"[0-9]{3}[-. ][0-9]{4}"
_NUMBER = re.compile(
    r"[0-9+(](?<![\w+].)(?<![0-9][.-].)(?:(?<=[0-9])(?:"
    r"(?P<ssn>[0-9]{2}(?<!000)(?<!666)(?<!9[0-9]{2})(?P<s>[- ])(?!00)[0-9]{2}(?P=s)(?!0000)[0-9]{4})"
    rf"|(?P<na>(?<=1)[-. ](?:\([0-9]{{3}}\)[-. ]?|[0-9]{{3}}[-. ]){_NA_TAIL}|[0-9]{{2}}[-. ]{_NA_TAIL})"
    r"|(?P<card>(?=(?:[ -]?[0-9]){12})[0-9]{2,18}(?:[ -][0-9]{3,19}){0,7}))"
    r"|(?<=\+)(?P<intl>[0-9](?:[ .()-]{0,2}[0-9]){7,16})"
    rf"|(?<=\()(?P<nap>[0-9]{{3}}\)[-. ]?{_NA_TAIL}))(?![\w+]|[.(-][0-9+(])"
)
# Cheap pre-check on a copy with ASCII digits as "0" and spaces as "-": whatever _NUMBER would
# change holds "dd-ddd", "dd.dddd" or 13 digits in a row, unless the text has a "+".
_ZEROED = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2D if b == 0x20 else b for b in range(256))
_NUMBER_HINT = re.compile(rb"00(?:-000|\.0000|0{11})").search
_DIGIT_GROUP = re.compile(r"[0-9]+")
_SCALARS = frozenset((int, float, bool, type(None)))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        total += (n * 2 - 9 if n > 4 else n * 2) if i & 1 else n
    return total % 10 == 0


def _card_span(s: str, groups: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The longest, leftmost Luhn-valid run of 13-19 digits in whole groups; inside the run a
    span may only start or end at a space (dash-joined groups stay one token)."""
    n = len(groups)
    for i in range(n):
        if i and s[groups[i][0] - 1] != " ":
            continue
        for j in range(n, i, -1):
            if j < n and s[groups[j][0] - 1] != " ":
                continue
            digits = "".join(s[a:b] for a, b in groups[i:j])
            if 13 <= len(digits) <= 19 and _luhn(digits):
                return groups[i][0], groups[j - 1][1]
    return None


def _numbers(text: str, start: int = 0, end: int | None = None) -> str:
    """Rules 1, 2 and 4 on ``text[start:end]``."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = last = start
    while (m := _NUMBER.search(text, pos, end)) is not None:
        kind = m.lastgroup
        if kind != "card":
            out += (text[last : m.start()], _MARKS[kind])  # type: ignore[index]
            pos = last = m.end()
            continue
        groups = [g.span() for g in _DIGIT_GROUP.finditer(text, m.start(), m.end())]
        span = _card_span(text, groups)
        if span is None:  # not a card: an SSN or phone may still start on a later group
            pos = groups[1][0] if len(groups) > 1 else m.end()
            continue
        out += (text[last : m.start()], _numbers(text, m.start(), span[0]), _CARD)
        text, end = text[span[1] : end], end - span[1]  # go on after the marker, as a 2nd pass would
        pos = last = 0
    out.append(text[last:end])
    return "".join(out)


def _emails(text: str) -> str:
    parts: list[str] = []
    last = 0
    for m in _AT_DOMAIN.finditer(text):
        at = m.start()
        local = _LOCAL_REVERSED(text[max(last, at - 256) : at][::-1])
        if local is not None:
            parts += (text[last : at - local.end()], _EMAIL)
            last = m.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def redact_text(text: str) -> str:
    """Redact SSNs, card numbers, emails and phone numbers (rules 1-4) in free text."""
    if "@" in text:
        text = _emails(text)
    if "+" in text or _NUMBER_HINT(text.encode("utf-8", "surrogatepass").translate(_ZEROED)):
        text = _numbers(text)
    return text


def _is_sensitive_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    low = key.lower()
    return _KEY(low if low == key else _CAMEL.sub("_", key).lower()) is not None


def _sensitive_keys(keys: list) -> set:
    """Sensitive names among ``keys``: substring hints over all keys joined, then rule 5 proper."""
    try:
        low = _SEP.join(keys).lower() + _SEP
    except TypeError:  # non-str keys are never sensitive
        keys = [k for k in keys if isinstance(k, str)]
        low = _SEP.join(keys).lower() + _SEP
    if low.count(_SEP) != len(keys):  # some key contains _SEP itself
        return {k for k in keys if _is_sensitive_key(k)}
    found = set()
    for hint in _KEY_HINTS:
        at = low.find(hint)
        while at != -1:
            key = keys[low.count(_SEP, 0, at)]
            if key not in found and _is_sensitive_key(key):
                found.add(key)
            at = low.find(hint, low.index(_SEP, at + 1))
    return found


# The walk copies containers and records, per result: texts (each str leaf, in walk order),
# slots ((container, key) of each walked free-text value), dicts (each nested dict copy) and
# keys (theirs). One text pass and one key pass then cover the whole result; _fill puts the
# redacted texts back by walking the copies in the same order.


def _copy_dict(d: dict, add: Any, dicts: list, keys: list) -> dict:
    out = dict(d)
    dicts.append(out)
    keys += d
    for k, v in d.items():
        c = v.__class__
        if c is str:
            add(v)
        elif c is dict:
            out[k] = _copy_dict(v, add, dicts, keys)
        elif c is list:
            out[k] = _copy_list(v, add, dicts, keys)
        elif c not in _SCALARS:
            out[k] = _copy_other(v, add, dicts, keys)
    return out


def _copy_list(v: list, add: Any, dicts: list, keys: list) -> list:
    out = list(v)
    for i, x in enumerate(v):
        c = x.__class__
        if c is str:
            add(x)
        elif c is dict:
            out[i] = _copy_dict(x, add, dicts, keys)
        elif c is list:
            out[i] = _copy_list(x, add, dicts, keys)
        elif c not in _SCALARS:
            out[i] = _copy_other(x, add, dicts, keys)
    return out


def _copy_other(v: Any, add: Any, dicts: list, keys: list) -> Any:
    if isinstance(v, str):
        add(str(v))
        return str(v)
    if isinstance(v, dict):
        return _copy_dict(v, add, dicts, keys)
    if isinstance(v, list):
        return _copy_list(v, add, dicts, keys)
    return tuple(redact_value(x) for x in v) if isinstance(v, tuple) else v


def _fill(v: Any, nxt: Any) -> None:
    for k, x in v.items() if v.__class__ is dict else enumerate(v):
        c = x.__class__
        if c is str:
            v[k] = nxt()
        elif c is dict or c is list:
            _fill(x, nxt)


def _slot(out: Any, k: Any, v: Any, texts: list, slots: list, dicts: list, keys: list) -> None:
    """Copy free-text value ``v`` into ``out[k]`` (no rule 5 on ``k`` itself)."""
    c = v.__class__
    if c is str:
        texts.append(v)
    elif c is dict:
        out[k] = _copy_dict(v, texts.append, dicts, keys)
    elif c is list:
        out[k] = _copy_list(v, texts.append, dicts, keys)
    elif c in _SCALARS:
        return
    else:
        out[k] = _copy_other(v, texts.append, dicts, keys)
    slots.append((out, k))


def _finish(texts: list, slots: list, dicts: list, keys: list) -> None:
    blob = _SEP.join(texts)
    redacted = redact_text(blob)
    if redacted != blob:
        parts = redacted.split(_SEP)
        if len(parts) != len(texts):  # some string contains _SEP itself
            parts = [redact_text(t) for t in texts]
        nxt = iter(parts).__next__
        for container, key in slots:
            v = container[key]
            if v.__class__ is str:
                container[key] = nxt()
            else:
                _fill(v, nxt)
    for name in _sensitive_keys(keys) if keys else ():
        for d in dicts:
            if name in d:
                d[name] = REDACTED


def redact_value(value: Any) -> Any:
    """Deep copy of a JSON-like value with rule 5 on every dict key and rules 1-4 on every str."""
    if isinstance(value, str):
        return redact_text(value)
    state: tuple[list, list, list, list] = ([], [], [], [])
    box = [value]
    _slot(box, 0, value, *state)
    _finish(*state)
    return box[0]


_TOP_FREE = ("description", "user_message", "expected_behavior", "agent_response", "error")
_TOP_FREE += ("response_must_include", "response_must_not_include")
_TOP_KNOWN = frozenset(_TOP_FREE) | frozenset(
    "result_id scenario_id complexity target_failure tool_match status failure_category expected_tools"
    " forbidden_tools duration_ms tools_called llm_calls trace".split()
)
_CALL_KEYS = frozenset("name order duration_ms arguments result error".split())
_LLM_KEYS = frozenset("provider model input_tokens output_tokens latency_ms tools_offered tools_chosen".split())
_TRACE_KEYS = frozenset("at kind name duration_ms data".split())
_DICT = frozenset((dict,))


def _events(out: dict, key: str, known: frozenset, texts: list, slots: list, dicts: list, keys: list) -> list | None:
    """Copy the event list ``out[key]``; return the copied events if all are dicts (else walk it)."""
    events = out.get(key)
    if events.__class__ is list and _DICT.issuperset(map(type, events)):
        events = out[key] = list(map(dict, events))
        if not all(map(known.issuperset, events)):  # keys beyond the schema: like nested ones
            for event in events:
                for k, v in event.items():
                    if k not in known:
                        if _is_sensitive_key(k):
                            event[k] = REDACTED
                        else:
                            _slot(event, k, v, texts, slots, dicts, keys)
        return events
    if events is not None:
        _slot(out, key, events, texts, slots, dicts, keys)
    return None


def redact_result(result: dict) -> dict:
    """A redacted copy of one test-case result; the input is not modified."""
    texts: list = []
    slots: list = []
    dicts: list = []
    keys: list = []
    out = dict(result)
    for key in _TOP_FREE:
        if (v := out.get(key)).__class__ is str:
            texts.append(v)
            slots.append((out, key))
        elif v is not None:
            _slot(out, key, v, texts, slots, dicts, keys)
    for key in ("expected_tools", "forbidden_tools"):
        if (v := out.get(key)).__class__ is list:
            out[key] = v[:]
    for call in _events(out, "tools_called", _CALL_KEYS, texts, slots, dicts, keys) or ():
        if (v := call.get("arguments")) is not None:
            _slot(call, "arguments", v, texts, slots, dicts, keys)
        if (v := call.get("result")) is not None:
            _slot(call, "result", v, texts, slots, dicts, keys)
        if (v := call.get("error")) is not None:
            _slot(call, "error", v, texts, slots, dicts, keys)
    for call in _events(out, "llm_calls", _LLM_KEYS, texts, slots, dicts, keys) or ():
        if (v := call.get("tools_offered")).__class__ is list:
            call["tools_offered"] = v[:]
        if (v := call.get("tools_chosen")).__class__ is list:
            call["tools_chosen"] = v[:]
    for event in _events(out, "trace", _TRACE_KEYS, texts, slots, dicts, keys) or ():
        if (v := event.get("data")) is not None:
            _slot(event, "data", v, texts, slots, dicts, keys)
    if not _TOP_KNOWN.issuperset(result):
        for key, v in result.items():
            if key not in _TOP_KNOWN:
                _slot(out, key, v, texts, slots, dicts, keys)
    _finish(texts, slots, dicts, keys)
    return out
