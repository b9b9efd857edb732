"""A patched runs index equals one built from scratch from the same rows, whatever the patches."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.query.core.runindex import RunIndex, sort_key
from tests.runindex_checks import assert_same_index

AGENTS, RUNS, SOURCES = ["a", "b", "c"], ["r1", "r2", "r3", "r4"], [None, "ci", "mcp"]


def row(agent: str, run: str, date: int, source: str | None, passed: int, total: int, done: bool) -> dict:
    return {"agent": agent, "run": run, "date_us": date, "source": source, "total": total, "passed": min(passed, total),
            "failed": total - min(passed, total), "errors": 0, "mode": "streaming", "completed_us": 1 if done else None}


rows = st.builds(row, st.sampled_from(AGENTS), st.sampled_from(RUNS), st.integers(0, 3), st.sampled_from(SOURCES),
                 st.integers(0, 3), st.integers(0, 3), st.booleans())  # fmt: skip


def table(rs) -> dict[tuple[str, str], dict]:
    return {(r["agent"], r["run"]): r for r in rs}  # one row per run: the last given


@settings(max_examples=300, deadline=None)
@given(st.lists(rows, max_size=12), st.lists(st.tuples(st.lists(rows, max_size=5),
                                                       st.lists(st.tuples(st.sampled_from(AGENTS), st.sampled_from(RUNS)),
                                                                max_size=4)), max_size=4))  # fmt: skip
def test_patches_equal_a_rebuild(start, patches):
    current = table(start)
    index = RunIndex.of(sorted(current.values(), key=sort_key))
    for upserts, deletes in patches:  # a version: some runs change or appear, some go
        touched = {(r["agent"], r["run"]) for r in upserts} | set(deletes)
        removed = [sort_key(current.pop(k)) for k in touched if k in current]
        added = table(r for r in upserts if (r["agent"], r["run"]) not in set(deletes))
        current.update(added)
        before, kept = index, (list(index.rows), list(index.keys), index.date_us.tolist(), dict(index.agent_codes))
        index = index.patched(removed, list(added.values()))
        assert_same_index(index, RunIndex.of(sorted(current.values(), key=sort_key)))
        # readers may hold the old index: a patch leaves it as it was
        assert (before.rows, before.keys, before.date_us.tolist(), before.agent_codes) == kept
    assert [index.find(sort_key(r)) for r in index.rows] == list(range(len(index.rows)))


def test_find_and_an_agent_s_runs_oldest_first():
    rs = [row("a", "r1", 5, "ci", 1, 1, True), row("b", "r2", 5, None, 0, 1, True), row("a", "r3", 9, "ci", 1, 1, False)]
    index = RunIndex.of(sorted(rs, key=sort_key))
    assert [r["run"] for r in index.rows] == ["r3", "r1", "r2"]
    assert [r["run"] for r in index.of_agent("a")] == ["r1", "r3"] and index.of_agent("z") == []
    assert index.find(sort_key(rs[1])) == 2 and index.find((-5, "a", "r9")) is None
    assert index.failing.tolist() == [False, False, True]
    assert index.all_passed.tolist() == [False, True, False]  # r3 is streaming and still open
    gone = index.patched([sort_key(rs[1])], [])
    assert gone.agents == ["a"] and len(index.rows) == 3
