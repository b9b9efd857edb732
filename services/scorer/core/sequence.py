"""Expected vs actual tool sequence: what is missing, extra or out of order.

Alignment (also described in ``docs/scoring.md``):

* ``missing`` = expected tools never called, as a *multiset* difference: an expected tool
  listed twice but called once is missing once. Listed in expected order.
* ``extra`` = calls that no expected entry accounts for (multiset difference the other
  way), in call order.
* ``reordered`` = calls that *are* expected (their multiset intersection) but sit off a
  longest common subsequence (LCS) of the two sequences, in call order. The LCS is the
  largest set of calls that are already in the expected relative order, so
  ``reordered`` is the smallest set of calls one would have to move to fix the order.
  The LCS is the textbook O(n·m) dynamic programme over suffixes, read back greedily
  from the front (a match is always taken; on a tie the call is skipped, so the earlier
  expected steps anchor the order and a call made too early is the one reported), so the
  answer is deterministic. Inputs whose table would exceed ``MAX_LCS_CELLS`` fall back
  to a greedy in-order match, which can over-report ``reordered`` but never misses one.

Modes (``tool_match`` of a case):

* ``strict``: ``actual == expected`` (same tools, same order, same counts).
* ``unordered``: same multiset, any order (no missing, no extra).
* ``subset``: every call is expected (no extra); expected tools may be skipped and the
  order is free: the expected list acts as an allow-list.
* ``superset``: the expected sequence occurs in the calls as a subsequence (no missing,
  none reordered); extra calls are allowed anywhere: the expected list is a required
  workflow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

TOOL_MATCH_MODES = ("strict", "unordered", "subset", "superset")
MAX_LCS_CELLS = 1_000_000


@dataclass(frozen=True)
class ToolDiff:
    """How the called tools differ from the expected ones, and whether the mode is met."""

    missing: tuple[str, ...]
    extra: tuple[str, ...]
    reordered: tuple[str, ...]
    matches: bool


def multiset_difference(left: Sequence[str], right: Sequence[str]) -> tuple[str, ...]:
    """Items of ``left`` not paired with an equal item of ``right``, in ``left`` order.

    Earlier occurrences are paired first, so the surplus is the later duplicates.
    """
    remaining: dict[str, int] = {}
    for item in right:
        remaining[item] = remaining.get(item, 0) + 1
    surplus = []
    for item in left:
        count = remaining.get(item, 0)
        if count > 0:
            remaining[item] = count - 1
        else:
            surplus.append(item)
    return tuple(surplus)


def lcs_pairs(expected: Sequence[str], actual: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Index pairs ``(i, j)`` of one longest common subsequence, ascending in both."""
    n, m = len(expected), len(actual)
    if n * m > MAX_LCS_CELLS:
        return _greedy_pairs(expected, actual)
    # table[i][j] = LCS length of expected[i:] and actual[j:]
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, below = table[i], table[i + 1]
        for j in range(m - 1, -1, -1):
            if expected[i] == actual[j]:
                row[j] = below[j + 1] + 1
            else:
                row[j] = below[j] if below[j] >= row[j + 1] else row[j + 1]
    pairs = []
    i = j = 0
    while i < n and j < m:
        if expected[i] == actual[j]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif table[i][j + 1] >= table[i + 1][j]:
            j += 1  # on a tie skip the call: earlier expected steps anchor the order
        else:
            i += 1
    return tuple(pairs)


def _greedy_pairs(expected: Sequence[str], actual: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """A common subsequence (not always the longest): each call matches the next expected."""
    pairs = []
    i = 0
    for j, tool in enumerate(actual):
        if i < len(expected) and expected[i] == tool:
            pairs.append((i, j))
            i += 1
    return tuple(pairs)


_SAME = ToolDiff(missing=(), extra=(), reordered=(), matches=True)
# memo of diff_tools by (expected, actual, mode): scoring sees the same few sequences over and
# over. Bounded: only short sequences are kept, and the memo is cleared when it is full.
_MEMO: dict[tuple[tuple[str, ...], tuple[str, ...], str], ToolDiff] = {}
_MEMO_MAX = 10_000
_MEMO_MAX_LEN = 32  # expected + actual tools; longer pairs are computed every time


def diff_tools(expected: Sequence[str], actual: Sequence[str], mode: str = "strict") -> ToolDiff:
    """Compare the called tool names with the expected ones under a ``tool_match`` mode.

    Raises ``ValueError`` for a mode outside ``TOOL_MATCH_MODES``.
    """
    if mode not in TOOL_MATCH_MODES:
        raise ValueError(f"unknown tool_match mode {mode!r}; use one of {', '.join(TOOL_MATCH_MODES)}")
    if type(expected) is not tuple:
        expected = tuple(expected)
    if type(actual) is not tuple:
        actual = tuple(actual)
    if expected == actual:  # nothing missing, extra or reordered: every mode holds
        return _SAME
    if len(expected) + len(actual) > _MEMO_MAX_LEN:
        return _diff(expected, actual, mode)
    key = (expected, actual, mode)
    found = _MEMO.get(key)
    if found is None:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        found = _MEMO[key] = _diff(expected, actual, mode)
    return found


def _diff(expected: tuple[str, ...], actual: tuple[str, ...], mode: str) -> ToolDiff:
    missing = multiset_difference(expected, actual)
    extra = multiset_difference(actual, expected)
    reordered = _reordered(expected, actual)
    if mode == "strict":
        matches = expected == actual
    elif mode == "unordered":
        matches = not missing and not extra
    elif mode == "subset":
        matches = not extra
    else:  # superset
        matches = not missing and not reordered
    return ToolDiff(missing=missing, extra=extra, reordered=reordered, matches=matches)


def _reordered(expected: tuple[str, ...], actual: tuple[str, ...]) -> tuple[str, ...]:
    shared = Counter(expected) & Counter(actual)
    if not shared:
        return ()
    pairs = lcs_pairs(expected, actual)
    off_lcs = shared - Counter(actual[j] for _, j in pairs)
    if not off_lcs:  # every shared call is on the LCS
        return ()
    on_lcs = {j for _, j in pairs}
    reordered = []
    for j, tool in enumerate(actual):
        if j not in on_lcs and off_lcs[tool] > 0:
            reordered.append(tool)
            off_lcs[tool] -= 1
    return tuple(reordered)
