"""Run scores, BSS and AQS, over many results at once (numpy, no loop over results).

* BSS (Behavioural Soundness Score) = 100 × (1 − mean cost of the run's scored results),
  a failure costing its severity weight (critical 1, high 0.5, medium 0.25, low 0.1) and a
  runtime error 0.25. Complexity does not enter: a critical failure is as bad in a simple
  case as in a complex one.
* AQS (Agent Quality Score) = 50 % complexity-weighted pass rate + 50 % BSS, complexity
  weights simple 1, moderate 2, complex 3 (unknown counts as moderate).

Pending results are excluded; a run with no scored result has NaN scores. Scores are
rounded half-to-even to ``decimals`` (default 1) on output. Formulas, reasons and worked
examples: ``docs/scoring.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from services.scorer.core.classify import ALGORITHM_VERSION

SCORING_VERSION = ALGORITHM_VERSION

STATUS_CODES: Mapping[str, int] = {"pending": 0, "passed": 1, "failed": 2, "error": 3}
SEVERITY_CODES: Mapping[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}  # 0 = none
COMPLEXITY_CODES: Mapping[str, int] = {"simple": 1, "moderate": 2, "complex": 3}  # 0 = unknown

SEVERITY_COST = {"critical": 1.0, "high": 0.5, "medium": 0.25, "low": 0.1}
ERROR_COST = 0.25
UNRATED_FAILURE_COST = SEVERITY_COST["medium"]  # a failure that carries no severity
COMPLEXITY_WEIGHT = {"simple": 1.0, "moderate": 2.0, "complex": 3.0}
UNKNOWN_COMPLEXITY_WEIGHT = COMPLEXITY_WEIGHT["moderate"]
PASS_RATE_SHARE = 0.5  # AQS = share × pass rate + (1 − share) × BSS

# cost of one result, indexed [status_code, severity_code]
_COST = np.zeros((4, 5))
_COST[STATUS_CODES["failed"]] = [UNRATED_FAILURE_COST] + [SEVERITY_COST[s] for s in SEVERITY_CODES]
_COST[STATUS_CODES["error"]] = ERROR_COST
_WEIGHT = np.array([UNKNOWN_COMPLEXITY_WEIGHT] + [COMPLEXITY_WEIGHT[c] for c in ("simple", "moderate", "complex")])

ArrayLike = Any  # list, numpy array, pyarrow Array / ChunkedArray (dictionary-encoded or not)


def _encode(values: ArrayLike, codes: Mapping[str, int], what: str) -> np.ndarray:
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    lookup = []
    for label in array.dictionary.to_pylist():
        code = codes.get(str(label).strip().lower())
        if code is None:
            raise ValueError(f"unknown {what} {label!r}; use one of {', '.join(codes)} or null")
        lookup.append(code)
    lookup.append(0)  # null
    indices = array.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False)
    return np.asarray(lookup, dtype=np.int8)[indices]


def encode_status(values: ArrayLike) -> np.ndarray:
    """Status labels → int8 codes (``STATUS_CODES``); null means pending (0)."""
    return _encode(values, STATUS_CODES, "status")


def encode_severity(values: ArrayLike) -> np.ndarray:
    """Severity labels → int8 codes (``SEVERITY_CODES``); null means none (0)."""
    return _encode(values, SEVERITY_CODES, "severity")


def encode_complexity(values: ArrayLike) -> np.ndarray:
    """Complexity labels → int8 codes (``COMPLEXITY_CODES``); null means unknown (0)."""
    return _encode(values, COMPLEXITY_CODES, "complexity")


def _validated(name: str, values: ArrayLike, upper: int, length: int | None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (length is not None and len(array) != length):
        raise ValueError(f"{name} must be a 1-D array of length {length}")
    if not np.issubdtype(array.dtype, np.integer) and len(array):
        raise ValueError(f"{name} must hold integer codes, not {array.dtype}")
    if len(array) and (array.min() < 0 or array.max() >= upper):
        raise ValueError(f"{name} must lie in 0..{upper - 1}")
    return array.astype(np.intp, copy=False)


def status_counts(run_index: ArrayLike, status_code: ArrayLike, n_runs: int) -> np.ndarray:
    """Results per run and status: an ``(n_runs, 4)`` int64 array, columns in ``STATUS_CODES`` order."""
    runs = _validated("run_index", run_index, n_runs, None)
    status = _validated("status_code", status_code, len(STATUS_CODES), len(runs))
    return np.bincount(runs * 4 + status, minlength=n_runs * 4).reshape(n_runs, 4)


def score_runs(
    run_index: ArrayLike,
    status_code: ArrayLike,
    severity_code: ArrayLike,
    complexity_code: ArrayLike,
    n_runs: int,
    *,
    decimals: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """BSS and AQS of runs ``0..n_runs-1``; result ``i`` belongs to run ``run_index[i]``.

    Returns two float64 arrays of length ``n_runs`` (NaN for a run without scored
    results), rounded to ``decimals`` unless it is None.
    """
    runs = _validated("run_index", run_index, max(n_runs, 0), None)
    status = _validated("status_code", status_code, 4, len(runs))
    severity = _validated("severity_code", severity_code, 5, len(runs))
    complexity = _validated("complexity_code", complexity_code, 4, len(runs))

    scored, cost, weight, passed_weight = result_terms(status, severity, complexity)
    n_scored = np.bincount(runs, weights=scored, minlength=n_runs)
    cost_sum = np.bincount(runs, weights=cost, minlength=n_runs)
    weight_total = np.bincount(runs, weights=weight, minlength=n_runs)
    weight_passed = np.bincount(runs, weights=passed_weight, minlength=n_runs)
    return scores_from_sums(n_scored, cost_sum, weight_total, weight_passed, decimals=decimals)


def result_terms(
    status_code: ArrayLike, severity_code: ArrayLike, complexity_code: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each result's additive share of its run's scores: (scored, cost, weight, passed weight).

    Run scores depend only on the sums of these terms, so a projection can store them per
    result and sum any subset (a run, an incremental sync) without re-reading the others.
    """
    status = np.asarray(status_code, dtype=np.int64)
    severity = np.asarray(severity_code, dtype=np.int64)
    complexity = np.asarray(complexity_code, dtype=np.int64)
    scored = (status != STATUS_CODES["pending"]).astype(np.float64)
    weight = _WEIGHT[complexity] * scored
    passed_weight = weight * (status == STATUS_CODES["passed"])
    return scored, _COST[status, severity], weight, passed_weight


def scores_from_sums(
    n_scored: ArrayLike, cost: ArrayLike, weight_total: ArrayLike, weight_passed: ArrayLike, *, decimals: int | None = 1
) -> tuple[np.ndarray, np.ndarray]:
    """BSS and AQS from a run's summed ``result_terms`` (NaN where nothing is scored)."""
    n_scored, cost = np.asarray(n_scored, dtype=np.float64), np.asarray(cost, dtype=np.float64)
    weight_total, weight_passed = np.asarray(weight_total, dtype=np.float64), np.asarray(weight_passed, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        bss = np.clip(100.0 * (1.0 - cost / n_scored), 0.0, 100.0)
        pass_rate = np.clip(100.0 * weight_passed / weight_total, 0.0, 100.0)
    aqs = PASS_RATE_SHARE * pass_rate + (1.0 - PASS_RATE_SHARE) * bss
    if decimals is not None:
        bss, aqs = np.round(bss, decimals), np.round(aqs, decimals)
    return bss, aqs


def agent_aqs(
    run_aqs: ArrayLike,
    run_weights: ArrayLike,
    agent_index: ArrayLike,
    run_time: ArrayLike,
    n_agents: int,
    *,
    last_n: int = 5,
    decay: float = 0.7,
    decimals: int | None = 1,
) -> np.ndarray:
    """Per-agent AQS: weighted mean of its latest ``last_n`` scored runs.

    Run weight = ``run_weights`` (its number of scored results) × ``decay ** age``, age 0
    being the agent's newest run by ``run_time`` (any sortable number, e.g. epoch ns;
    on equal times the higher run index counts as newer). Runs with a NaN score or no
    weight are skipped; an agent without such runs gets NaN. Works for BSS as well.
    """
    if last_n < 1 or not 0.0 < decay <= 1.0:
        raise ValueError("last_n must be >= 1 and decay in (0, 1]")
    scores = np.asarray(run_aqs, dtype=np.float64)
    weights = np.asarray(run_weights, dtype=np.float64)
    agents = _validated("agent_index", agent_index, max(n_agents, 0), len(scores))
    times = np.asarray(run_time)
    if np.issubdtype(times.dtype, np.datetime64):
        times = times.astype("datetime64[ns]").astype(np.int64)
    if len(weights) != len(scores) or len(times) != len(scores):
        raise ValueError("run_aqs, run_weights, agent_index and run_time must have the same length")

    usable = np.flatnonzero(~np.isnan(scores) & (weights > 0))
    order = usable[np.lexsort((-usable, -times[usable], agents[usable]))]
    sorted_agents = agents[order]
    starts = np.flatnonzero(np.r_[True, sorted_agents[1:] != sorted_agents[:-1]]) if len(order) else np.array([], int)
    age = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    weight = np.where(age < last_n, weights[order] * decay ** age, 0.0)

    total = np.bincount(sorted_agents, weights=weight, minlength=n_agents)
    weighted = np.bincount(sorted_agents, weights=weight * scores[order], minlength=n_agents)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(total > 0, weighted / total, np.nan)
    return np.round(result, decimals) if decimals is not None else result
