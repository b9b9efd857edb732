from __future__ import annotations

import pyarrow as pa
import pytest

from services.scorer.pruning import RunStarts, files_since

pytestmark = pytest.mark.unit


def actions(*spans):
    return pa.table({"path": [f"f{i}" for i in range(len(spans))],
                     "min.stream_id": [lo for lo, _ in spans], "max.stream_id": [hi for _, hi in spans]})  # fmt: skip


def test_only_files_entirely_older_than_the_floor_are_skipped():
    acts = actions(("1763700000000-0", "1763700000500-3"), ("1763700000500-4", "1763700001000-0"), (None, None))
    assert files_since(acts, "/t", 1763700000600) == ["/t/f1", "/t/f2"]
    assert files_since(acts, "/t/", 1763700000500) == ["/t/f0", "/t/f1", "/t/f2"]  # same ms: kept


def test_ids_whose_string_order_is_not_number_order_are_never_skipped():
    acts = actions(("9-0", "99-0"), ("1000-0", "1763699999999-0"))
    assert files_since(acts, "/t", 1763700000000) == ["/t/f0", "/t/f1"]


def test_run_starts_floor_is_the_oldest_and_unknown_runs_disable_pruning():
    starts = RunStarts(size=2)
    starts.record(pa.table({"agent": ["a", "a", "a"], "run": ["r1", "r2", "r1"],
                            "type": ["RunCreated", "RunCreated", "RunCompleted"], "stream_id": ["5-0", "7-1", "9-0"]}))  # fmt: skip
    assert starts.floor([("a", "r1"), ("a", "r2")]) == 5
    assert starts.floor([("a", "r1"), ("a", "zz")]) is None
    starts.learn([("a", "r3", "11-0")])  # bounded: the least recently used start goes
    assert starts.missing([("a", "r1"), ("a", "r2"), ("a", "r3")]) == [("a", "r1")]
