"""Folds, the pure parts: settled marks, mark advance, the stored form."""

from __future__ import annotations

import pytest

from services.scorer.core.aggregates import AGGREGATE_NAMES, PARTS_SCHEMA
from services.scorer.folds import Fold, advanced, decode_all, fold_marks_table, folds_from, folds_table, settled_mark

pytestmark = pytest.mark.unit


def test_the_settled_mark_is_the_oldest_pending_entry_else_the_next_to_be_delivered():
    assert settled_mark(b"100-3", None) == (100, 4)
    assert settled_mark(b"100-3", b"90-0") == (90, 0)  # an older entry is still pending
    assert settled_mark("100-3", "100-2") == (100, 2)
    assert settled_mark(None, None) == (0, 0)  # nothing delivered yet: nothing settled
    assert settled_mark(b"0-0", None) == (0, 1)


def test_marks_advance_only_for_the_runs_partitions_and_never_move_back():
    assert advanced({}, {0: (5, 0), 1: (7, 0)}, [1]) == {1: (7, 0)}
    assert advanced({1: (9, 0)}, {0: (5, 0), 1: (7, 0)}, []) == {1: (9, 0)}  # never back
    assert advanced({1: (3, 0)}, {1: (7, 2)}, [1]) == {1: (7, 2)}
    assert advanced({4: (3, 0)}, {1: (7, 2)}, []) == {4: (3, 0)}  # a partition without a mark now: kept


def values(total: int) -> list:
    row = {n: 0 for n in AGGREGATE_NAMES} | {"total": total, "cost_complete": True, "first_synced_at": 1_763_719_200_000_000,
                                              "last_synced_at": 1_763_719_300_000_000, "algorithm_version": "v1"}  # fmt: skip
    return [row[n] for n in AGGREGATE_NAMES]


def test_a_fold_round_trips_through_its_stored_form_and_as_parts_rows():
    fold = Fold({0: (1_763_719_200_000, 3)}, values(7))
    back = Fold.decode(fold.encode())
    assert back.marks == fold.marks and back.values == fold.values
    table = folds_table({("a", "r"): back}, PARTS_SCHEMA)
    assert table.schema == PARTS_SCHEMA and table.to_pylist()[0]["total"] == 7
    again = folds_from(table, {}, {0: (1_763_719_300_000, 0)}, [("a", "r", 0)])
    assert again[("a", "r")].values == fold.values and again[("a", "r")].marks == {0: (1_763_719_300_000, 0)}
    marks = fold_marks_table({("a", "r"): back})
    assert marks.to_pylist() == [{"agent": "a", "run": "r", "partition": 0, "ms": 1_763_719_200_000, "seq": 3}]


def test_a_run_never_seen_gets_no_fold_and_unreadable_folds_are_ignored():
    table = folds_table({("a", "r"): Fold({0: (1, 0)}, values(0))}, PARTS_SCHEMA)
    assert folds_from(table, {}, {0: (5, 0)}, []) == {}  # no rows, no earlier fold: nothing to keep
    runs = [("a", "1"), ("a", "2"), ("a", "3"), ("a", "4")]
    got = decode_all(runs, [None, b"not json", b'{"m": {}, "v": []}', Fold({0: (1, 0)}, values(1)).encode()])
    assert list(got) == [("a", "4")]
