"""HTTP wire contract: what clients (CI, CLI, MCP tools) send and get back.

The key names here are a public contract shared with the Invarium clients: add fields,
never rename them. Stream events (``schemas.events``) are separate models so that the
wire and the log can evolve independently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.names import AgentName, ResultId, RunId, ScenarioId

MAX_RESULTS_PER_SYNC = 1000

Source = Literal["mcp", "ci", "cli", "api"]
Complexity = Literal["simple", "moderate", "complex"]
ToolMatch = Literal["strict", "unordered", "subset", "superset"]
ClientStatus = Literal["passed", "failed", "error"]

_TEXT = 100_000  # characters in one free-text field
_SHORT = 256


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=1_000_000)


class ToolCall(_Wire):
    """One tool invocation, in call order."""

    name: str = Field(min_length=1, max_length=_SHORT)
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    duration_ms: float | None = Field(default=None, ge=0)
    order: int | None = Field(default=None, ge=0, description="Position in the call sequence; list order wins when absent.")
    error: str | None = Field(default=None, max_length=_TEXT)


class LLMCall(_Wire):
    """One LLM request made while the agent handled the case."""

    provider: str | None = Field(default=None, max_length=64)
    model: str = Field(min_length=1, max_length=_SHORT)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    latency_ms: float | None = Field(default=None, ge=0)
    tools_offered: list[str] = Field(default_factory=list, max_length=1000)
    tools_chosen: list[str] = Field(default_factory=list, max_length=1000)


class TraceEvent(_Wire):
    """One timestamped entry of the behavioural trace timeline."""

    at: datetime
    kind: str = Field(min_length=1, max_length=64, description="e.g. llm_call, tool_call, message, decision")
    name: str | None = Field(default=None, max_length=_SHORT)
    duration_ms: float | None = Field(default=None, ge=0)
    data: dict[str, Any] | None = None


class TestCaseResult(_Wire):
    """The outcome of running one test scenario against the agent."""

    __test__ = False  # not a pytest class

    result_id: ResultId | None = Field(
        default=None, description="Client id, unique within the run; a repeated id is ignored (retry-safe)."
    )
    scenario_id: ScenarioId
    description: str = Field(default="", max_length=_TEXT)
    complexity: Complexity | None = None
    target_failure: str | None = Field(default=None, max_length=64)
    user_message: str = Field(max_length=_TEXT)
    expected_behavior: str | None = Field(default=None, max_length=_TEXT)
    expected_tools: list[str] = Field(default_factory=list, max_length=1000)
    tool_match: ToolMatch = "strict"
    forbidden_tools: list[str] = Field(default_factory=list, max_length=1000)
    response_must_include: list[str] = Field(default_factory=list, max_length=1000)
    response_must_not_include: list[str] = Field(default_factory=list, max_length=1000)
    agent_response: str | None = Field(default=None, max_length=_TEXT)
    tools_called: list[ToolCall] = Field(default_factory=list, max_length=10_000)
    llm_calls: list[LLMCall] = Field(default_factory=list, max_length=10_000)
    trace: list[TraceEvent] = Field(default_factory=list, max_length=100_000)
    duration_ms: float | None = Field(default=None, ge=0)
    status: ClientStatus | None = Field(default=None, description="Set only by clients that judge their own cases.")
    error: str | None = Field(default=None, max_length=_TEXT)
    failure_category: str | None = Field(default=None, max_length=64)


class _Batch(_Wire):
    results: list[TestCaseResult] = Field(min_length=1, max_length=MAX_RESULTS_PER_SYNC)
    complete: bool = Field(default=False, description="Mark the run finished once these results are in.")


class SyncRequest(_Batch):
    """One-shot sync (``invarium_sync_results``): creates a run, or appends to ``test_run_id``."""

    agent_name: AgentName
    test_run_id: RunId | None = None
    source: Source = "api"


class AppendResultsRequest(_Batch):
    """A batch of results for an existing (usually streaming) run."""


class CreateRunRequest(_Wire):
    """Create an empty (streaming) run; its results are appended later."""

    test_run_id: RunId | None = Field(default=None, description="Optional client-chosen id, e.g. a CI build id.")
    source: Source = "api"


class SyncResponse(BaseModel):
    test_run_id: str
    agent_name: str
    accepted: int = Field(description="Results newly written by this request.")
    duplicates: int = Field(description="Results skipped because their result_id was already in the run.")
    status: Literal["running", "completed"]
    url: str


class RunResponse(BaseModel):
    test_run_id: str
    agent_name: str
    source: Source
    status: Literal["running", "completed"]
    url: str


class ErrorResponse(BaseModel):
    detail: str
    errors: list[dict[str, Any]] | None = None


class RescoreRequest(_Wire):
    """What to re-score; an empty body re-scores everything."""

    agent_name: AgentName | None = None
    test_run_ids: list[RunId] = Field(default_factory=list, max_length=10_000)
    since: datetime | None = Field(default=None, description="Runs first synced at or after this time")
    until: datetime | None = Field(default=None, description="Runs first synced before this time")


class RescoreJob(BaseModel):
    job_id: str
    status: Literal["queued", "running", "done", "failed"]
    phase: str = ""
    total: int = 0
    done: int = 0
    runs: int = 0
    generation: str = ""
    error: str | None = None
    created_at: str = ""
    finished_at: str | None = None
    url: str = ""
