"""Compare two runs case by case. Pure.

Cases are matched by scenario id. A scenario that occurs several times in one run is matched
occurrence by occurrence (in result-id order), so repeats are compared too rather than
collapsed. Only shared cases are compared; a case missing from head is listed as missing and
never counted as passing, and no average hides a per-case regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.query.core.present import FAILURE_KEYS, failure_key

Case = Mapping[str, Any]  # scenario_id, result_id, description, status, failure_category, severity, reason


def _keyed(cases: Iterable[Case]) -> dict[tuple[str, int], Case]:
    out: dict[tuple[str, int], Case] = {}
    seen: dict[str, int] = {}
    for case in sorted(cases, key=lambda c: (c["scenario_id"], c["result_id"])):
        n = seen.get(case["scenario_id"], 0)
        seen[case["scenario_id"]] = n + 1
        out[(case["scenario_id"], n)] = case
    return out


def _short(case: Case) -> dict[str, Any]:
    return {"scenario_id": case["scenario_id"], "result_id": case["result_id"],
            "description": case.get("description"), "status": case["status"]}  # fmt: skip


def _change(base: Case, head: Case) -> dict[str, Any]:
    return {
        "scenario_id": head["scenario_id"], "description": head.get("description") or base.get("description"),
        "base_result_id": base["result_id"], "head_result_id": head["result_id"],
        "base_status": base["status"], "head_status": head["status"],
        "head_failure_category": head.get("failure_category"), "head_severity": head.get("severity"),
        "head_reason": head.get("reason"),
    }  # fmt: skip


def _failing(status: str | None) -> bool:
    return status in ("failed", "error")


def score_change(before: float | None, after: float | None) -> tuple[float | None, str | None]:
    """(delta, "72 to 81, +9") — None when either side has no score yet."""
    if before is None or after is None:
        return None, None
    delta = round(after - before, 1)
    return delta, f"{_num(before)} to {_num(after)}, {'+' if delta >= 0 else ''}{_num(delta)}"


def _num(x: float) -> str:
    r = round(x, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def category_counts(cases: Iterable[Case]) -> dict[str, int]:
    counts = dict.fromkeys(FAILURE_KEYS, 0)
    for case in cases:
        key = failure_key(case["status"], case.get("failure_category"))
        if key:
            counts[key] += 1
    return counts


def compare(base: Iterable[Case], head: Iterable[Case]) -> dict[str, Any]:
    """Regressions (pass → fail/error), fixes (fail/error → pass), new and missing cases, and the
    failure category distribution of the shared cases, base vs head."""
    b, h = _keyed(base), _keyed(head)
    shared = [k for k in b if k in h]
    regressions, fixes = [], []
    for key in shared:
        before, after = b[key]["status"], h[key]["status"]
        if before == "passed" and _failing(after):
            regressions.append(_change(b[key], h[key]))
        elif _failing(before) and after == "passed":
            fixes.append(_change(b[key], h[key]))
    base_counts = category_counts(b[k] for k in shared)
    head_counts = category_counts(h[k] for k in shared)
    return {
        "shared": len(shared),
        "regressions": regressions,
        "fixes": fixes,
        "new_in_head": [_short(h[k]) for k in h if k not in b],
        "missing_from_head": [_short(b[k]) for k in b if k not in h],
        "category_changes": {c: {"base": base_counts[c], "head": head_counts[c], "delta": head_counts[c] - base_counts[c]}
                             for c in FAILURE_KEYS},  # fmt: skip
        "shared_passed": {"base": sum(b[k]["status"] == "passed" for k in shared),
                          "head": sum(h[k]["status"] == "passed" for k in shared)},  # fmt: skip
    }
