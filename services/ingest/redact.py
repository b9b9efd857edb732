"""PII redaction for test-case results, applied before anything reaches the event log.

Pure functions, no I/O; the only module state is compiled regexes and frozen sets.

Rules (free text = every ``str`` that is not an identifier field):

1. **SSN** ``ddd-dd-dddd`` or ``ddd dd dddd`` (same separator twice) -> ``[REDACTED:SSN]``.
   Numbers that can never be issued are left alone: area 000, 666 or 9xx, group 00, serial 0000.
2. **Card** 13-19 digits, either one unbroken run or groups of 3+ digits joined by a single
   space or dash (``4111 1111 1111 1111``, ``3782-822463-10005``), and only if the digits pass
   the Luhn check -> ``[REDACTED:CARD]``. When a grouped run is longer than a card (a card
   followed by a year or a CVV), its longest Luhn-valid span of whole groups is redacted.
3. **Email** ``local@domain.tld``: RFC 5322 atext in the local part (at most 256 characters are
   taken), dotted LDH labels and a 2+ character TLD in the domain -> ``[REDACTED:EMAIL]``.
4. **Phone** -> ``[REDACTED:PHONE]``, only in formatted shapes:
   international ``+`` then 8-17 digits in all (country code plus 7-14), optionally split by up
   to two of ``space . - ( )`` between digits (``+1 415 555 2671``, ``+4915112345678``); North
   American ``(415) 555-2671``, ``(415)555-2671``, ``415-555-2671``, ``415.555.2671``,
   ``415 555 2671``, optionally prefixed by ``1-``/``1 ``/``1.``. A bare digit run without ``+``
   (``4155552671``, order numbers, epoch timestamps) is never a phone, nor are dates, times,
   ISO timestamps, versions, prices or decimals, which do not have these shapes.
5. **Sensitive fields**: in any dict below the top level of a result (tool ``arguments``,
   ``result``, trace ``data``, any nesting inside them, and unknown keys of tool calls, LLM
   calls and trace events), the whole value of a sensitive key becomes ``[REDACTED]``,
   whatever its type. A key is sensitive when, case-insensitively, it contains password,
   passwd, passphrase, pwd, secret, api key, authorization/authorisation, cookie, session,
   private key, credential, credit card, card number, cvv or cvc (multi-word names match with
   ``_``, ``-``, `` `` or nothing between words, so camelCase works); or ends with ``token``
   (``access_token``, ``idToken``, ``X-Auth-Token``); or has ``auth`` or ``ssn`` as a whole
   word (``auth``, ``basic_auth``, ``authHeader``, ``user_ssn``). Token *counts* (``tokens``,
   ``input_tokens``, ``max_tokens``, ``token_count``) and ``author``/``authored_by`` are not
   sensitive. Keys of the result itself are schema keys and never sensitive.

Numbers (rules 1, 2, 4) must be token-bounded: not glued to a letter, digit, ``_`` or ``+``,
not preceded by ``<digit>.``/``<digit>-`` and not followed by ``.``/``-``/``(`` plus a digit,
``+`` or ``(`` (so ``0.4111111111111111``, ``v2-415-555-2671`` and ``123-45-6789-0`` stay).
Identifier fields are copied untouched: result_id, scenario_id, complexity, target_failure,
tool_match, status, failure_category, expected_tools, forbidden_tools, duration_ms; tool call
name/order/duration_ms; every LLM call field; trace at/kind/name/duration_ms.
The markers contain no digit and no ``@``, so redaction is idempotent.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["REDACTED", "redact_result", "redact_text", "redact_value"]

REDACTED = "[REDACTED]"
_CARD = "[REDACTED:CARD]"
_EMAIL = "[REDACTED:EMAIL]"
_MARKS = {"ssn": "[REDACTED:SSN]", "na": "[REDACTED:PHONE]", "nap": "[REDACTED:PHONE]", "intl": "[REDACTED:PHONE]"}
_SEP = "\x1f"  # joins one result's strings into one blob; acts exactly like a string boundary

# Rule 5. _B/_E: word boundary at a non-alphanumeric character or a camelCase hump.
_B = r"(?:(?<![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z]))"
_E = r"(?:(?![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z]))"
_SENSITIVE_KEY = re.compile(
    r"(?i:pass(?:word|wd|phrase)|pwd|secret|api[-_ ]?key|authori[sz]ation|cookie|session"
    r"|private[-_ ]?key|credential|credit[-_ ]?card|card[-_ ]?number|cvv|cvc)"
    r"|(?i:token)\Z"
    rf"|{_B}(?i:auth|ssn){_E}"
).search

# Rule 3: find "@domain" (literal prefix, fast scan), then read the local part backwards.
_AT_DOMAIN = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]")
_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+").match

# Rules 1, 2, 4 in one pattern. It starts with a plain character class so that sre skips
# ordinary prose in C; the branch is then chosen by looking back at that first character.
_NA_TAIL = r"[0-9]{3}[-. ][0-9]{4}"
_NUMBER = re.compile(
    r"[0-9+(](?<![\w+].)(?<![0-9][.-].)(?:"
    r"(?<=[0-9])(?:"
    r"(?P<ssn>[0-9]{2}(?<!000)(?<!666)(?<!9[0-9]{2})(?P<s>[- ])(?!00)[0-9]{2}(?P=s)(?!0000)[0-9]{4})"
    rf"|(?P<na>(?<=1)[-. ](?:\([0-9]{{3}}\)[-. ]?|[0-9]{{3}}[-. ]){_NA_TAIL}|[0-9]{{2}}[-. ]{_NA_TAIL})"
    r"|(?P<card>(?=(?:[ -]?[0-9]){12})[0-9]{2,18}(?:[ -][0-9]{3,19}){0,7}))"
    r"|(?<=\+)(?P<intl>[0-9](?:[ .()-]{0,2}[0-9]){7,16})"
    rf"|(?<=\()(?P<nap>[0-9]{{3}}\)[-. ]?{_NA_TAIL})"
    r")(?![\w+]|[.(-][0-9+(])"
)
_DIGIT_GROUP = re.compile(r"[0-9]+")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(s: str, start: int, end: int) -> str:
    """A card-shaped run ``s[start:end]``: redact its longest Luhn-valid span of whole groups."""
    groups = [m.span() for m in _DIGIT_GROUP.finditer(s, start, end)]
    for i in range(len(groups)):
        for j in range(len(groups), i, -1):
            digits = "".join(s[a:b] for a, b in groups[i:j])
            if 13 <= len(digits) <= 19 and _luhn(digits):
                head, tail = s[start : groups[i][0]], s[groups[j - 1][1] : end]
                return _NUMBER.sub(_number, head) + _CARD + _NUMBER.sub(_number, tail)
    if len(groups) < 2:
        return s[start:end]
    # No card: an SSN or phone may still start on a later group (scanned in full context).
    parts, last = [s[start : groups[1][0]]], groups[1][0]
    for m in _NUMBER.finditer(s, last, end):
        parts += (s[last : m.start()], _number(m))
        last = m.end()
    parts.append(s[last:end])
    return "".join(parts)


def _number(m: re.Match[str]) -> str:
    kind = m.lastgroup
    return _card(m.string, m.start(), m.end()) if kind == "card" else _MARKS[kind]  # type: ignore[index]


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
    if "+" in text or any(d in text for d in "0123456789"):
        text = _NUMBER.sub(_number, text)
    return text


# Deep walk: copy containers, apply rule 5 to keys, collect every non-empty str leaf as a
# (container, key) slot so one result's strings are redacted as a single joined blob.


def _walk_dict(d: dict, slots: list, texts: list) -> dict:
    out: dict = {}
    for k, v in d.items():
        if k.__class__ is str and _SENSITIVE_KEY(k):
            out[k] = REDACTED
        elif v.__class__ is str:
            out[k] = v
            if v:
                slots.append((out, k))
                texts.append(v)
        else:
            out[k] = _walk(v, slots, texts)
    return out


def _walk(v: Any, slots: list, texts: list) -> Any:
    if isinstance(v, dict):
        return _walk_dict(v, slots, texts)
    if isinstance(v, list):
        out = list(v)
        for i, x in enumerate(v):
            if isinstance(x, str):
                if x:
                    slots.append((out, i))
                    texts.append(x)
            elif isinstance(x, (dict, list, tuple)):
                out[i] = _walk(x, slots, texts)
        return out
    if isinstance(v, tuple):
        return tuple(redact_value(x) for x in v)
    return v


def _put(out: dict, k: Any, v: Any, slots: list, texts: list) -> None:
    """Store free-text value ``v`` under ``out[k]`` (no rule 5 on ``k`` itself)."""
    if isinstance(v, str):
        out[k] = v
        if v:
            slots.append((out, k))
            texts.append(v)
    else:
        out[k] = _walk(v, slots, texts)


def _finish(slots: list, texts: list) -> None:
    if not texts:
        return
    blob = _SEP.join(texts)
    redacted = redact_text(blob)
    if redacted == blob:
        return
    parts = redacted.split(_SEP)
    if len(parts) != len(texts):  # some string contained _SEP itself: do them one by one
        parts = [redact_text(t) for t in texts]
    for (container, key), part in zip(slots, parts):
        container[key] = part


def redact_value(value: Any) -> Any:
    """Deep-redact any JSON-like value: rule 5 on dict keys, rules 1-4 on every str."""
    if isinstance(value, str):
        return redact_text(value)
    if not isinstance(value, (dict, list)):
        return _walk(value, [], [])
    slots: list = []
    texts: list = []
    out = _walk(value, slots, texts)
    _finish(slots, texts)
    return out


def _clone(v: Any) -> Any:
    if isinstance(v, list):
        return [_clone(x) for x in v]
    if isinstance(v, dict):
        return {k: _clone(x) for k, x in v.items()}
    return v


_TOP_KEEP = frozenset(
    "result_id scenario_id complexity target_failure tool_match status failure_category"
    " expected_tools forbidden_tools duration_ms".split()
)
_EVENT_FREE = frozenset(("arguments", "result", "data", "error"))  # free text, schema key
_EVENT_KEEP = {
    "tools_called": frozenset(("name", "order", "duration_ms")),
    "llm_calls": frozenset(
        "provider model input_tokens output_tokens latency_ms tools_offered tools_chosen".split()
    ),
    "trace": frozenset(("at", "kind", "name", "duration_ms")),
}


def redact_result(result: dict) -> dict:
    """Return a redacted copy of one test-case result (the input is not modified)."""
    slots: list = []
    texts: list = []
    out: dict = {}
    for key, value in result.items():
        if key in _TOP_KEEP:
            out[key] = _clone(value)
        elif key in _EVENT_KEEP and isinstance(value, list):
            keep = _EVENT_KEEP[key]
            events: list = []
            for event in value:
                if not isinstance(event, dict):
                    events.append(_walk(event, slots, texts))
                    continue
                copy: dict = {}
                for k, v in event.items():
                    if k in keep:
                        copy[k] = _clone(v)
                    elif k in _EVENT_FREE:
                        _put(copy, k, v, slots, texts)
                    elif k.__class__ is str and _SENSITIVE_KEY(k):
                        copy[k] = REDACTED
                    else:
                        _put(copy, k, v, slots, texts)
                events.append(copy)
            out[key] = events
        else:
            _put(out, key, value, slots, texts)
    _finish(slots, texts)
    return out
