"""A linear-time pre-check that lets most results skip the (Python-level) PII redactor.

One RE2 search over a result's JSON text looks for every place where
``redact.redact_result`` could change something: anything shaped like an SSN, card, phone
or email (looser than the redactor's own rules, so a superset), and every spelling that
could make a key sensitive (rule 5 of the redactor). Results with no such place are
written as they are; the others go through the full redactor. The superset property is
checked by ``tests/unit/test_prefilter.py``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import re2

_CANDIDATES = re2.compile(
    rb"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}"  # SSN shapes
    rb"|[0-9]{3}[-. ][0-9]{4}"  # the tail of every North-American phone shape
    rb"|\+[0-9]"  # international phones
    rb"|[0-9](?:[ -]?[0-9]){12}"  # 13+ digits: card numbers
    rb"|@[A-Za-z0-9-]+\.[A-Za-z0-9]"  # emails (a label may start with a digit: mail.163.com)
    # rule 5: names that contain a sensitive word anywhere ...
    rb"|(?i:pass|pwd|secret|api.?key|authori[sz]ation|cookie|session|private.?key|credential|credit.?card"
    rb"|card.?number|cvv|cvc)"
    # ... that end with "token" (a JSON key ends at its closing quote; input_tokens does not) ...
    rb"|(?i:token)\""
    # ... or that have auth / ssn as a word, also as a camelCase hump (authHeader, userSsn)
    rb"|[^A-Za-z0-9](?i:auth|ssn)[^a-z0-9]|[a-z0-9](?:A(?i:uth)|S(?i:sn))[^a-z0-9]"
)


def may_need_redaction(encoded: bytes) -> bool:
    """False only when redacting this JSON-encoded result would change nothing."""
    return _CANDIDATES.search(encoded) is not None


def flag_for_redaction(encoded: Sequence[bytes]) -> set[int]:
    """Indexes of the results that may need redaction: one scan over all of them at once.

    A match is charged to every result its span touches (a boundary byte belongs to both
    neighbours), so joining never hides a candidate and can only over-flag.
    """
    starts: list[int] = []
    pos = 0
    for data in encoded:
        starts.append(pos)
        pos += len(data) + 1
    flagged: set[int] = set()
    for match in _CANDIDATES.finditer(b"\x1e".join(encoded)):  # one C-level scan
        first = bisect_right(starts, match.start()) - 1
        last = bisect_right(starts, match.end()) - 1
        flagged.update(range(first, last + 1))
    return flagged
