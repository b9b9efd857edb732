"""HTTP answers of the query routes, for the OpenAPI document (briefs/query-contract.md).

The routes build these shapes in ``services.query.core.present`` and send them as is; the
models document them. Keys may be added, never renamed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

RunStatus = Literal["completed", "failed", "running", "pending"]
ResultStatus = Literal["passed", "failed", "error", "pending"]


class RunRow(BaseModel):
    test_run_id: str
    agent_name: str
    date: str | None
    tests: int
    passed: int
    failed: int
    errors: int
    pending: int
    bss: float | None
    aqs: float | None
    source: str | None
    status: RunStatus
    url: str


class RunsPage(BaseModel):
    runs: list[RunRow]
    page: int
    limit: int
    total: int
    pages: int
    next_cursor: str | None


class TrendPoint(BaseModel):
    test_run_id: str
    date: str | None
    bss: float | None
    aqs: float | None


class LatestRun(TrendPoint):
    status: RunStatus
    passed: int
    failed: int
    tests: int


class Agent(BaseModel):
    agent_name: str
    aqs: float | None
    bss: float | None
    runs: int
    tests: int
    latest_run: LatestRun | None
    trend: list[TrendPoint]


class Agents(BaseModel):
    agents: list[Agent]


class RunSummary(BaseModel):
    test_run_id: str
    agent_name: str
    status: RunStatus
    source: str | None
    total: int
    scored: int
    passed: int
    failed: int
    errors: int
    pending: int
    pass_rate: float | None
    bss: float | None
    aqs: float | None
    failure_breakdown: dict[str, int]
    cost_usd: float | None
    cost_complete: bool
    unknown_cost_calls: int = 0  # LLM calls whose model has no known price (left out of cost_usd)
    duration_ms: float | None
    created_at: str | None
    completed_at: str | None
    algorithm_version: str | None
    url: str


class ResultRow(BaseModel):
    result_id: str
    scenario_id: str | None
    description: str | None
    complexity: str | None
    target_failure: str | None
    status: ResultStatus
    severity: str | None
    failure_category: str | None
    failure_subtype: str | None
    reason: str | None
    user_message: str | None
    tools_called: list[str]


class RunDetail(BaseModel):
    summary: RunSummary
    results: list[ResultRow]
    page: int
    limit: int
    total: int
    pages: int
    next_cursor: str | None


class CaseDetail(BaseModel):
    result_id: str
    scenario_id: str | None
    description: str | None
    complexity: str | None
    target_failure: str | None
    status: ResultStatus
    user_message: str | None
    expected_behavior: str | None
    agent_response: str | None
    tools_called: list[dict[str, Any]]
    failure: dict[str, Any]
    sequence: dict[str, Any]
    llm_calls: list[dict[str, Any]]
    timing: dict[str, float | None]
    cost_usd: float | None
    trace: list[dict[str, Any]]
    algorithm_version: str | None


class CompareSide(BaseModel):
    test_run_id: str
    bss: float | None
    aqs: float | None
    tests: int
    passed: int


class CaseChange(BaseModel):
    scenario_id: str
    description: str | None
    base_status: str
    head_status: str
    head_failure_category: str | None
    head_severity: str | None
    head_reason: str | None


class CaseRef(BaseModel):
    scenario_id: str
    result_id: str
    description: str | None
    status: str


class Comparison(BaseModel):
    agent_name: str
    base: CompareSide
    head: CompareSide
    bss_delta: float | None
    aqs_delta: float | None
    bss_change: str | None
    aqs_change: str | None
    shared: int
    regressions: list[CaseChange]
    fixes: list[CaseChange]
    new_in_head: list[CaseRef]
    missing_from_head: list[CaseRef]
    category_changes: dict[str, dict[str, int]]


class Deleted(BaseModel):
    test_run_id: str
    agent_name: str
    deleted: bool
