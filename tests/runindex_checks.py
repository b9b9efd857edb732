"""One check of two runs indexes for the unit and integration tests: the same rows in the same
order, the same columns (agent and source compared by name: their codes may differ)."""

from __future__ import annotations

from services.query.core.runindex import RunIndex, sort_key


def assert_same_index(a: RunIndex, b: RunIndex) -> None:
    assert a.rows == b.rows and a.keys == b.keys == sorted(b.keys)
    assert a.date_us.tolist() == b.date_us.tolist()
    assert a.failing.tolist() == b.failing.tolist() and a.all_passed.tolist() == b.all_passed.tolist()
    for col, codes, other, other_codes in ((a.agent, a.agent_codes, b.agent, b.agent_codes),
                                           (a.source, a.source_codes, b.source, b.source_codes)):  # fmt: skip
        names, other_names = {c: n for n, c in codes.items()}, {c: n for n, c in other_codes.items()}
        assert [names[c] for c in col.tolist()] == [other_names[c] for c in other.tolist()]
    assert a.agents == b.agents
    for agent in b.agents:
        assert a.of_agent(agent) == b.of_agent(agent)
    assert all(a.find(sort_key(row)) == i for i, row in enumerate(b.rows))
