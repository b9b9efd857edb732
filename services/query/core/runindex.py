"""The runs list's index: the visible runs, newest first, as columns for vectorised filtering (a
runs list is a mask, not a query). Pure.

When a few runs change (a commit touches the runs of its batch), the index is patched instead of
rebuilt: the Python work is per changed run, and the rest is list slicing and numpy copies, done
in C. A rebuild did Python work for every run, every time: ~350 ms at 30,000 runs here, on every
run-stats commit. A snapshot's index is never modified: a patch returns a new one, and readers
keep the one they hold.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

SortKey = tuple[int, str, str]  # (-date_us, agent, run): ascending is newest first


def sort_key(row: dict) -> SortKey:
    return (-row["date_us"], row["agent"], row["run"])


def _failing(row: dict) -> bool:
    return row["failed"] + row["errors"] > 0


def _all_passed(row: dict) -> bool:
    # a streaming run still open has cases to come: not "all passed" yet, whatever is scored
    return row["total"] > 0 and row["passed"] == row["total"] and (
        row["completed_us"] is not None or row["mode"] != "streaming")  # fmt: skip


def _codes(known: dict[str, int], names: Iterable[str]) -> dict[str, int]:
    """``known`` plus a code for each new name (a new dict only when there is one)."""
    new = [n for n in dict.fromkeys(names) if n not in known]
    if not new:
        return known
    codes = dict(known)
    for name in new:
        codes[name] = len(codes)
    return codes


def _without(seq: list, drop: Sequence[int]) -> list:
    """``seq`` without the items at the ascending positions ``drop`` (slices: copied in C)."""
    out, start = [], 0
    for i in drop:
        out += seq[start:i]
        start = i + 1
    out += seq[start:]
    return out


def _with(seq: list, at: Sequence[int], items: Sequence) -> list:
    """``seq`` with ``items[k]`` inserted before position ``at[k]`` (``at`` non-decreasing)."""
    out, start = [], 0
    for i, item in zip(at, items):
        out += seq[start:i]
        out.append(item)
        start = i
    out += seq[start:]
    return out


@dataclass
class RunIndex:
    rows: list[dict] = field(default_factory=list)  # newest first
    keys: list[SortKey] = field(default_factory=list)  # sort_key of each row, ascending
    date_us: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    agent: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    source: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    failing: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    all_passed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # codes of the agent and source columns; a code may outlive its last row
    agent_codes: dict[str, int] = field(default_factory=dict)
    source_codes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[dict]) -> RunIndex:
        """The index of ``rows``, given newest first (``sort_key`` ascending)."""
        agents = _codes({}, sorted({r["agent"] for r in rows}))
        sources = _codes({}, sorted({r["source"] or "" for r in rows}))
        return cls(
            rows=rows,
            keys=[sort_key(r) for r in rows],
            date_us=np.array([r["date_us"] for r in rows], np.int64),
            agent=np.array([agents[r["agent"]] for r in rows], np.int32),
            source=np.array([sources[r["source"] or ""] for r in rows], np.int32),
            failing=np.array([_failing(r) for r in rows], bool),
            all_passed=np.array([_all_passed(r) for r in rows], bool),
            agent_codes=agents,
            source_codes=sources,
        )

    def find(self, key: SortKey) -> int | None:
        """The position of the row with ``key``, if there is one."""
        i = bisect.bisect_left(self.keys, key)
        return i if i < len(self.keys) and self.keys[i] == key else None

    def patched(self, removed: Iterable[SortKey], added: Iterable[dict]) -> RunIndex:
        """A new index without the rows of ``removed`` (keys that are not here are ignored) and
        with ``added`` (rows whose keys are not here once ``removed`` are gone)."""
        drop = sorted({i for k in removed if (i := self.find(k)) is not None})
        new = sorted(added, key=sort_key)
        agents = _codes(self.agent_codes, (r["agent"] for r in new))
        sources = _codes(self.source_codes, (r["source"] or "" for r in new))
        keys = _without(self.keys, drop)
        new_keys = [sort_key(r) for r in new]
        at = [bisect.bisect_left(keys, k) for k in new_keys]  # positions once the drops are gone

        def column(old: np.ndarray, values: list) -> np.ndarray:
            return np.insert(np.delete(old, drop), at, np.array(values, old.dtype))

        return RunIndex(
            rows=_with(_without(self.rows, drop), at, new),
            keys=_with(keys, at, new_keys),
            date_us=column(self.date_us, [r["date_us"] for r in new]),
            agent=column(self.agent, [agents[r["agent"]] for r in new]),
            source=column(self.source, [sources[r["source"] or ""] for r in new]),
            failing=column(self.failing, [_failing(r) for r in new]),
            all_passed=column(self.all_passed, [_all_passed(r) for r in new]),
            agent_codes=agents,
            source_codes=sources,
        )

    @cached_property
    def _by_agent(self) -> dict[int, np.ndarray]:
        """Each agent code's row positions, newest first: one stable sort, made the first time a
        snapshot's agents are asked for (then a lookup, not a scan of every run, per agent)."""
        order = np.argsort(self.agent, kind="stable")
        codes, starts = np.unique(self.agent[order], return_index=True)
        return {int(c): positions for c, positions in zip(codes, np.split(order, starts[1:]))}

    @cached_property
    def agents(self) -> list[str]:
        """The agents with at least one run here, sorted."""
        names = {code: name for name, code in self.agent_codes.items()}
        return sorted(names[c] for c in self._by_agent)

    def of_agent(self, agent: str) -> list[dict]:
        """An agent's runs, oldest first."""
        positions = self._by_agent.get(self.agent_codes.get(agent, -1))
        return [] if positions is None else [self.rows[i] for i in positions[::-1]]
