"""PII redaction of test-case results, applied before anything reaches the event log.

Pure (no I/O; module state is only compiled regexes and constants). Free text = every string of
a result except the identifier fields listed at the end. Replacements:

1. SSN ``ddd-dd-dddd`` or ``ddd dd dddd`` -> ``[REDACTED:SSN]``; never-issued numbers (area 000,
   666 or 9xx, group 00, serial 0000) and mixed separators stay.
2. Card -> ``[REDACTED:CARD]``: 13-19 digits passing the Luhn check, one run or groups of 3+ digits
   joined by single spaces or dashes (``4111 1111 1111 1111``, ``3782-822463-10005``). In a longer
   run of space-separated groups (card then year or CVV) the longest Luhn-valid span of whole
   groups is redacted; dash-joined groups are one token.
3. Email -> ``[REDACTED:EMAIL]``: RFC 5322 atext local part (<= 256 chars), LDH labels, 2+ char TLD.
4. Phone -> ``[REDACTED:PHONE]``, formatted shapes only: ``+`` then 8-17 digits in all (country
   code plus 7-14), at most two of ``space . - ( )`` between digits (``+1 415 555 2671``,
   ``+44 20 7946 0958``, ``+4915112345678``; it extends over digit groups right after it); North
   American ``(415) 555-2671``, ``(415)555-2671``, ``415-555-2671``, ``415.555.2671``, ``415 555
   2671``, optionally after ``1-``, ``1.`` or ``1 ``. A bare digit run (``4155552671``, order
   numbers, epoch times) is never a phone; dates, times, ISO timestamps, versions, prices and
   decimals do not have these shapes.
   Rules 1, 2 and 4 match whole tokens: not touching a letter, digit, ``_`` or ``+``, not after
   a digit plus ``.``, ``-`` or ``(``, not before ``.``, ``-`` or ``(`` plus a digit, ``+`` or ``(``
   (``0.4111111111111111``, ``v2-415-555-2671``, ``123-45-6789-0`` stay).
5. Sensitive key -> its whole value, any type, becomes ``[REDACTED]``; in every dict below the top
   level (tool ``arguments``/``result``, trace ``data``, all nesting, event keys beyond the schema).
   The key is lowercased after splitting camelCase humps with ``_``. Sensitive: contains password,
   passwd, passphrase, pwd, secret, api key, authorization/-isation, cookie, session, private key,
   credential, credit card, card number, cvv or cvc (``_``, ``-``, space or nothing between words);
   ends with token (``access_token``, ``idToken``, ``X-Auth-Token``); has auth or ssn as a word
   (``auth``, ``basic_auth``, ``authHeader``, ``user_ssn``). Not sensitive: token counts
   (``tokens``, ``input_tokens``, ``max_tokens``, ``token_count``), ``author``, ``authored_by``,
   and the result's own (schema) keys.

Identifiers stay as they are: result_id, scenario_id, complexity, target_failure, tool_match,
status, failure_category, expected_tools, forbidden_tools, duration_ms; tool call name, order,
duration_ms; all LLM call fields; trace at, kind, name, duration_ms. No marker contains a digit
or ``@``, and redacting twice gives what redacting once gave.
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
    r"pass[-_ ]?(?:word|wd|phrase)|pwd|secret|api[-_ ]?key|authori[sz]ation|cookie|session|private[-_ ]?key"
    r"|credential|credit[-_ ]?card|card[-_ ]?number|cvv|cvc|token\Z|(?<![a-z0-9])(?:auth|ssn)(?![a-z0-9])"
).search
# Every key _KEY accepts contains one of these once lowercased (keys joined and ended by _SEP).
_KEY_HINTS = ("pass", "pwd", "secret", "key", "auth", "cookie", "session", "cred", "card", "cv", "ssn", "token\x1f")

# Emails: find "@domain" (a literal prefix, scanned fast), then read the local part backwards.
_AT_DOMAIN = re.compile(r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]")
_LOCAL_REVERSED = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+").match

# Rules 1, 2, 4 in one pattern. It opens with a plain character class, so sre skips prose in C;
# the branch is then picked by looking back at that first character. A card branch match is a
# whole run of digit groups; _PHONE_SSN (the same without it) looks inside runs with no card.
_NA_TAIL = r"[0-9]{3}[-. ][0-9]{4}"
_NUMBER_SRC = (
    r"[0-9+(](?<![\w+].)(?<![0-9][.(-].)(?:(?<=[0-9])(?:"
    r"(?P<ssn>[0-9]{2}(?<!000)(?<!666)(?<!9[0-9]{2})(?P<s>[- ])(?!00)[0-9]{2}(?P=s)(?!0000)[0-9]{4})"
    rf"|(?P<na>(?<=1)[-. ](?:\([0-9]{{3}}\)[-. ]?|[0-9]{{3}}[-. ]){_NA_TAIL}|[0-9]{{2}}[-. ]{_NA_TAIL})"
    r"CARD)|(?<=\+)(?P<intl>[0-9](?:[ .()-]{0,2}[0-9]){7,16})"
    rf"|(?<=\()(?P<nap>[0-9]{{3}}\)[-. ]?{_NA_TAIL}))(?![\w+]|[.(-][0-9+(])"
)
_NUMBER = re.compile(_NUMBER_SRC.replace("CARD", r"|(?P<card>(?=(?:[ -]?[0-9]){12})[0-9]{2,18}(?:[ -][0-9]{3,19})*)"))
_PHONE_SSN = re.compile(_NUMBER_SRC.replace("CARD", ""))
# Cheap pre-check on a copy with ASCII digits as "0" and spaces as "-": all that _NUMBER can
# change holds "dd-ddd", "dd.dddd" or 13 digits in a row, unless the text has a "+".
_ZEROED = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2D if b == 0x20 else b for b in range(256))
_NUMBER_HINT = re.compile(rb"00(?:-000|\.0000|0{11})").search
_DIGIT_GROUP = re.compile(r"[0-9]+")
_DOUBLED = str.maketrans("0123456789", "0246813579")  # Luhn: each digit doubled, digits summed
_SCALARS = frozenset((int, float, bool, type(None)))


def _luhn(digits: str) -> bool:
    return sum(map(int, digits[-1::-2] + digits[-2::-2].translate(_DOUBLED))) % 10 == 0


def _card_spans(s: str, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cards in a run of digit groups: left to right, the longest Luhn-valid span of 13-19 digits
    in whole groups, starting and ending at an end of the run or at a space."""
    spans, i, n = [], 0, len(groups)
    while i < n:
        ends, total = [], 0
        for j in range(i, min(n, i + 7) if i == 0 or s[groups[i][0] - 1] == " " else i):
            total += groups[j][1] - groups[j][0]
            if total > 19:
                break
            if total >= 13 and (j == n - 1 or s[groups[j + 1][0] - 1] == " "):
                ends.append(j)
        for j in reversed(ends):
            if _luhn("".join(s[a:b] for a, b in groups[i : j + 1])):
                spans.append((groups[i][0], groups[j][1]))
                i = j
                break
        i += 1
    return spans


def _mark(m: re.Match[str]) -> str:
    return _MARKS[m.lastgroup]  # type: ignore[index]


def _numbers(text: str) -> str:
    """Rules 1, 2 and 4."""
    out: list[str] = []
    pos = last = 0
    while (m := _NUMBER.search(text, pos)) is not None:
        if m.lastgroup != "card":
            out += (text[last : m.start()], _mark(m))
            pos = last = m.end()
            continue
        start, stop = m.span()
        spans = _card_spans(text, [g.span() for g in _DIGIT_GROUP.finditer(text, start, stop)])
        if not spans:  # no card in the run, but an SSN or phone may start inside it
            window = min(len(text), stop + 64)  # longer than any SSN or phone
            while (p := _PHONE_SSN.search(text, start, window)) is not None and p.start() < stop:
                out += (text[last : p.start()], _mark(p))
                start = last = p.end()
            pos = max(stop, last)
            continue
        out.append(text[last:start])
        for a, b in spans:
            out += (_PHONE_SSN.sub(_mark, text[start:a]), _CARD)
            start = b
        text, pos, last = text[start:], 0, 0  # go on after the last marker, as a 2nd pass would
    out.append(text[last:])
    return "".join(out)


def _emails(text: str) -> str:
    parts: list[str] = []
    last = 0
    for m in _AT_DOMAIN.finditer(text):
        at = m.start()
        if (local := _LOCAL_REVERSED(text[max(last, at - 256) : at][::-1])) is not None:
            parts += (text[last : at - local.end()], _EMAIL)
            last = m.end()
    return "".join((*parts, text[last:])) if parts else text


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
    """Sensitive names among ``keys``: substring hints over all of them joined, then rule 5."""
    try:
        low = _SEP.join(keys).lower() + _SEP
    except TypeError:  # non-str keys are never sensitive
        keys = [k for k in keys if isinstance(k, str)]
        low = _SEP.join(keys).lower() + _SEP
    if low.count(_SEP) != len(keys):  # some key contains _SEP itself
        return {k for k in keys if _is_sensitive_key(k)}
    found, seen = set(), set()
    for hint in _KEY_HINTS:
        at, index, counted = low.find(hint), 0, 0
        while at != -1:
            index += low.count(_SEP, counted, at)
            counted = at
            if (key := keys[index]) not in seen:
                seen.add(key)
                if _is_sensitive_key(key):
                    found.add(key)
            at = low.find(hint, low.index(_SEP, at + 1))
    return found


# A result is copied in one walk that records texts (every str leaf, in walk order), slots
# ((container, key) of each free-text value walked), dicts (every nested dict copy) and their
# keys; one text pass and one key pass then cover the whole result. _fill puts redacted texts
# back by walking the copies in the same order.


def _copy(v: dict | list, add: Any, dicts: list, keys: list) -> Any:
    if v.__class__ is dict:
        out: Any = dict(v)
        dicts.append(out)
        keys += v
        items: Any = v.items()
    else:
        out, items = list(v), enumerate(v)
    for k, x in items:
        c = x.__class__
        if c is str:
            add(x)
        elif c is dict or c is list:
            out[k] = _copy(x, add, dicts, keys)
        elif c not in _SCALARS:
            out[k] = _copy_other(x, add, dicts, keys)
    return out


def _copy_other(v: Any, add: Any, dicts: list, keys: list) -> Any:
    """Subclasses become their base type; tuples are redacted item by item, other objects kept."""
    if isinstance(v, str):
        add(str(v))
        return str(v)
    if isinstance(v, (dict, list)):
        return _copy(dict(v) if isinstance(v, dict) else list(v), add, dicts, keys)
    return tuple(redact_value(x) for x in v) if isinstance(v, tuple) else v


def _fill(v: Any, nxt: Any) -> None:
    for k, x in v.items() if v.__class__ is dict else enumerate(v):
        if x.__class__ is str:
            v[k] = nxt()
        elif x.__class__ is dict or x.__class__ is list:
            _fill(x, nxt)


def _slot(out: Any, k: Any, v: Any, texts: list, slots: list, dicts: list, keys: list) -> None:
    """Copy free-text value ``v`` into ``out[k]``; rule 5 applies below ``k``, not to ``k``."""
    c = v.__class__
    if c is str:
        texts.append(v)
    elif c is dict or c is list:
        out[k] = _copy(v, texts.append, dicts, keys)
    elif c in _SCALARS:
        return
    else:
        out[k] = _copy_other(v, texts.append, dicts, keys)
    slots.append((out, k))


def _finish(texts: list, slots: list, dicts: list, keys: list) -> None:
    blob = _SEP.join(texts)
    if (redacted := redact_text(blob)) != blob:
        parts = redacted.split(_SEP)
        if len(parts) != len(texts):  # some string contains _SEP itself
            parts = [redact_text(t) for t in texts]
        nxt = iter(parts).__next__
        for container, key in slots:
            if container[key].__class__ is str:
                container[key] = nxt()
            else:
                _fill(container[key], nxt)
    for name in _sensitive_keys(keys) if keys else ():
        for d in dicts:
            if name in d:
                d[name] = REDACTED


def redact_value(value: Any) -> Any:
    """A redacted deep copy of a JSON-like value: rule 5 on dict keys, rules 1-4 on every str."""
    if isinstance(value, str):
        return redact_text(value)
    state: tuple[list, list, list, list] = ([], [], [], [])
    box = [value]
    _slot(box, 0, value, *state)
    _finish(*state)
    return box[0]


_TOP_FREE = ("description", "user_message", "expected_behavior", "agent_response", "error", "response_must_include", "response_must_not_include")
_TOP_IDS = ("expected_tools", "forbidden_tools")
_TOP_KNOWN = frozenset((*_TOP_FREE, *_TOP_IDS, "tools_called", "llm_calls", "trace")) | frozenset(
    "result_id scenario_id complexity target_failure tool_match status failure_category duration_ms".split()
)
# Event lists: name, schema keys, keys holding free text, identifier lists to copy.
_EVENTS = (
    ("tools_called", frozenset("name order duration_ms arguments result error".split()), ("arguments", "result", "error"), ()),
    ("llm_calls", frozenset("provider model input_tokens output_tokens latency_ms tools_offered tools_chosen".split()), (), ("tools_offered", "tools_chosen")),
    ("trace", frozenset("at kind name duration_ms data".split()), ("data",), ()),
)
_DICT = frozenset((dict,))


def redact_result(result: dict) -> dict:
    """A redacted copy of one test-case result; the input is not modified."""
    texts: list = []
    slots: list = []
    dicts: list = []
    keys: list = []
    add, out = texts.append, dict(result)
    for key in _TOP_FREE:
        if (v := out.get(key)).__class__ is str:
            add(v)
            slots.append((out, key))
        elif v is not None:
            _slot(out, key, v, texts, slots, dicts, keys)
    for key in _TOP_IDS:
        if (v := out.get(key)).__class__ is list:
            out[key] = v[:]
    for key, known, free, ids in _EVENTS:
        if (events := out.get(key)).__class__ is not list or not _DICT.issuperset(map(type, events)):
            _slot(out, key, events, texts, slots, dicts, keys)
            continue
        events = out[key] = list(map(dict, events))
        for event in events:
            for k in free:
                if (v := event.get(k)).__class__ is dict:
                    event[k] = _copy(v, add, dicts, keys)
                    slots.append((event, k))
                elif v is not None:
                    _slot(event, k, v, texts, slots, dicts, keys)
            for k in ids:
                if (v := event.get(k)).__class__ is list:
                    event[k] = v[:]
            if not known.issuperset(event):  # keys beyond the schema: as in any nested dict
                for k, v in event.items():
                    if k not in known:
                        if _is_sensitive_key(k):
                            event[k] = REDACTED
                        else:
                            _slot(event, k, v, texts, slots, dicts, keys)
    if not _TOP_KNOWN.issuperset(result):
        for key, v in result.items():
            if key not in _TOP_KNOWN:
                _slot(out, key, v, texts, slots, dicts, keys)
    _finish(texts, slots, dicts, keys)
    return out
