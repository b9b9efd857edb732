"""Expected vs actual tool sequences: examples, and properties against brute-force references."""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scorer.core import sequence
from services.scorer.core.sequence import (
    TOOL_MATCH_MODES,
    _diff,
    _greedy_pairs,
    diff_tools,
    lcs_pairs,
    multiset_difference,
)

pytestmark = pytest.mark.unit

tools = st.lists(st.sampled_from(["search", "lookup", "refund", "escalate", "notify"]), max_size=8)


def reference_lcs_length(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    @cache
    def go(i: int, j: int) -> int:
        if i == len(a) or j == len(b):
            return 0
        if a[i] == b[j]:
            return 1 + go(i + 1, j + 1)
        return max(go(i + 1, j), go(i, j + 1))

    return go(0, 0)


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    remaining = iter(haystack)
    return all(any(item == other for other in remaining) for item in needle)


def test_identical_sequences_have_an_empty_diff_in_every_mode() -> None:
    for mode in TOOL_MATCH_MODES:
        assert diff_tools(["a", "b"], ["a", "b"], mode) == diff_tools([], [], mode)
        assert diff_tools(["a", "b"], ["a", "b"], mode).matches


def test_missing_extra_and_reordered_are_named() -> None:
    diff = diff_tools(["check", "lookup", "refund"], ["refund", "lookup", "export"], "strict")
    assert diff.missing == ("check",)
    assert diff.extra == ("export",)
    assert diff.reordered == ("refund",)  # the LCS keeps 'lookup'; 'refund' moved ahead of it
    assert not diff.matches


def test_duplicates_are_counted() -> None:
    diff = diff_tools(["search", "search", "answer"], ["search", "answer", "answer"], "unordered")
    assert diff.missing == ("search",)
    assert diff.extra == ("answer",)
    assert not diff.matches


def test_modes() -> None:
    expected = ["check", "export"]
    assert diff_tools(expected, ["export", "check"], "unordered").matches
    assert not diff_tools(expected, ["export", "check"], "strict").matches
    assert diff_tools(expected, ["check"], "subset").matches
    assert diff_tools(expected, ["export", "check"], "subset").matches  # subset ignores order
    assert not diff_tools(expected, ["check", "log"], "subset").matches
    assert diff_tools(expected, ["check", "log", "export"], "superset").matches
    assert not diff_tools(expected, ["export", "check", "log"], "superset").matches  # order matters
    assert not diff_tools(expected, ["check"], "superset").matches


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="tool_match"):
        diff_tools([], [], "fuzzy")


def test_greedy_fallback_for_huge_inputs_over_reports_at_most() -> None:
    expected, actual = ["a", "b"] * 800, ["b", "a"] * 800  # 2.56M cells > MAX_LCS_CELLS
    diff = diff_tools(expected, actual, "unordered")
    assert diff.matches and not diff.missing and not diff.extra
    assert len(diff.reordered) >= 1  # the true LCS leaves exactly one call out of order
    assert len(_greedy_pairs(expected, actual)) == 1599


@settings(max_examples=150, deadline=None)
@given(tools)
def test_identical_is_empty_and_matches_everywhere(sequence: list[str]) -> None:
    for mode in TOOL_MATCH_MODES:
        diff = diff_tools(sequence, list(sequence), mode)
        assert (diff.missing, diff.extra, diff.reordered, diff.matches) == ((), (), (), True)


@settings(max_examples=300, deadline=None)
@given(tools, tools)
def test_diff_against_references(expected: list[str], actual: list[str]) -> None:
    diff = diff_tools(expected, actual, "strict")
    assert Counter(diff.missing) == Counter(expected) - Counter(actual)
    assert Counter(diff.extra) == Counter(actual) - Counter(expected)
    shared = Counter(expected) & Counter(actual)
    assert Counter(diff.reordered) <= shared
    assert len(diff.reordered) == sum(shared.values()) - reference_lcs_length(tuple(expected), tuple(actual))
    pairs = lcs_pairs(expected, actual)
    assert all(expected[i] == actual[j] for i, j in pairs)
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(pairs, pairs[1:]))

    assert diff.matches == (expected == actual)
    assert diff_tools(expected, actual, "unordered").matches == (Counter(expected) == Counter(actual))
    assert diff_tools(expected, actual, "subset").matches == (Counter(actual) <= Counter(expected))
    assert diff_tools(expected, actual, "superset").matches == is_subsequence(expected, actual)


@settings(max_examples=100, deadline=None)
@given(tools, st.randoms(use_true_random=False))
def test_a_permutation_matches_unordered(expected: list[str], rng) -> None:
    actual = list(expected)
    rng.shuffle(actual)
    diff = diff_tools(expected, actual, "unordered")
    assert diff.matches and not diff.missing and not diff.extra


def test_multiset_difference_keeps_left_order() -> None:
    assert multiset_difference(["a", "b", "a", "c"], ["a"]) == ("b", "a", "c")


@settings(max_examples=200, deadline=None)
@given(tools, tools, st.sampled_from(TOOL_MATCH_MODES))
def test_memoised_diffs_equal_fresh_ones(expected: list[str], actual: list[str], mode: str) -> None:
    fresh = _diff(tuple(expected), tuple(actual), mode)
    assert diff_tools(expected, actual, mode) == fresh
    assert diff_tools(tuple(expected), iter(actual), mode) == fresh  # any iterables, and from the memo
    assert diff_tools(expected, actual, mode) == fresh


def test_the_memo_is_bounded_and_skips_long_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sequence, "_MEMO", {})
    monkeypatch.setattr(sequence, "_MEMO_MAX", 3)
    for k in range(10):
        diff_tools(["a"], ["b", str(k)])
        assert len(sequence._MEMO) <= 3
    sequence._MEMO.clear()
    long = ["a", "b"] * 40
    assert diff_tools(long, long[::-1], "unordered").matches
    assert not sequence._MEMO


def test_identical_sequences_still_check_the_mode() -> None:
    with pytest.raises(ValueError, match="tool_match"):
        diff_tools(["a"], ["a"], "fuzzy")
