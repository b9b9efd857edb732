"""The MCP server: the seed's ``invarium_*`` tools as a thin client of the REST API.

Each tool checks its parameters locally (the seed's exact texts), makes one or a few REST calls
through ``InvariumClient`` and answers with readable text plus the server's JSON as structured
content. Server errors come back as ``ToolError`` with the server's own ``detail``. How the client
is made (which base URL, which API key, which transport) is the transport's business: ``http.py``
forwards the caller's Bearer key into the API app it is mounted in, ``stdio.py`` reads the env.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from schemas.wire import TestCaseResult
from services.client import InvariumClient, InvariumError
from services.mcp import params, text

ClientFactory = Callable[[Context], InvariumClient]

INSTRUCTIONS = (
    "Tools of a self-hosted Invarium backend for behavioural tests of AI agents: sync test results, "
    "list and inspect test runs, compare two runs for regressions, read agent quality scores (AQS)."
)
_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)

AgentArg = Annotated[str, Field(description="Name of the agent, e.g. customer-support-agent.")]
PageArg = Annotated[int, Field(description="Page number for paginated results. Must be 1 or greater.")]
LimitArg = Annotated[int, Field(description="Number of results per page. Must be between 1 and 100.")]


def answer(body: str, data: Any) -> CallToolResult:
    """Readable text for the model, the REST answer as structured content for applications."""
    structured = data if isinstance(data, dict) else {"result": data}
    return CallToolResult(content=[TextContent(type="text", text=body)], structured_content=structured)


def _exact_errors(fn: Callable[..., Awaitable[CallToolResult]]) -> Callable[..., Awaitable[CallToolResult]]:
    """A ``ToolError`` becomes an error result with exactly its text. Raised out of the tool, the SDK
    would prefix ``Error executing tool <name>: `` and the seed's texts would no longer match."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> CallToolResult:
        try:
            return await fn(*args, **kwargs)
        except ToolError as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    return wrapper


def _param(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except params.ParamError as exc:
        raise ToolError(str(exc)) from None


def build_server(client_for: ClientFactory) -> MCPServer:
    """An MCPServer whose tools call the REST API through ``client_for(ctx)``."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per REST call is noise here
    mcp = MCPServer("invarium", instructions=INSTRUCTIONS, version="1")

    @mcp.tool(name="invarium_sync_results", annotations=_WRITE)
    @_exact_errors
    async def sync_results(
        agent_name: AgentArg,
        results: Annotated[list[TestCaseResult], Field(description="Test case results; more than 1,000 are sent in several requests.")],
        ctx: Context,
        test_run_id: Annotated[str | None, Field(description="Append to this run (incremental syncs); omit to create a new run.")] = None,
        complete: Annotated[bool, Field(description="Mark the run finished after these results (no more syncs to it).")] = False,
    ) -> CallToolResult:  # fmt: skip
        """Sync test case results (source mcp) to the backend for scoring. Creates a test run, or appends to
        test_run_id. Results read as pending until scored; then inspect them with invarium_get_test_run."""
        agent = _param(lambda: params.required(agent_name, "agent_name"))
        rows = [r.model_dump(mode="json", exclude_none=True) for r in results]
        summary, _ = await _rest(client_for, ctx, lambda client: client.sync_all(
            agent, rows, test_run_id=test_run_id or None, source="mcp", complete=complete))
        data = summary.as_dict()
        return answer(text.synced(data), data)

    @mcp.tool(name="invarium_list_test_runs", annotations=_READ)
    @_exact_errors
    async def list_test_runs(
        ctx: Context,
        agent_name: Annotated[str | None, Field(description="Only this agent's runs.")] = None,
        status: Annotated[str, Field(description="all, has_failures or all_passed.")] = "all",
        source: Annotated[str | None, Field(description="Only runs from mcp, ci, cli or api.")] = None,
        date_range: Annotated[str | None, Field(description="24h, 7d or 30d.")] = None,
        since: Annotated[str | None, Field(description="ISO 8601 start (instead of date_range).")] = None,
        until: Annotated[str | None, Field(description="ISO 8601 end.")] = None,
        page: PageArg = 1,
        limit: LimitArg = 20,
        cursor: Annotated[str | None, Field(description="Opaque cursor from a previous answer (next page).")] = None,
    ) -> CallToolResult:  # fmt: skip
        """List test runs, newest first, with pass/fail counts, BSS, AQS and source. Filter by agent,
        status, source and date range; page with page/limit or the returned cursor."""

        def check() -> None:
            params.one_of(status, params.RUN_STATUSES)
            params.one_of(source, params.SOURCES, "source")
            params.one_of(date_range, params.RANGES, "date_range")
            params.page_and_limit(page, limit)

        _param(check)
        data, _ = await _rest(client_for, ctx, lambda client: client.list_runs(
            agents=[agent_name] if agent_name else [], status=status or None, sources=[source] if source else [],
            date_range=date_range, since=since, until=until, page=page, limit=limit, cursor=cursor))
        return answer(text.runs(data), data)

    @mcp.tool(name="invarium_get_test_run", annotations=_READ)
    @_exact_errors
    async def get_test_run(
        ctx: Context,
        agent_name: Annotated[str | None, Field(description="Name of the agent whose test run to retrieve.")] = None,
        test_run_id: Annotated[str | None, Field(description="ID of the test run to retrieve results for. Obtained from invarium_sync_results or invarium_list_test_runs.")] = None,
        status: Annotated[str | None, Field(description="Filter results by outcome status. Valid values: passed, failed, error, pending. If omitted, all results are returned.")] = None,
        page: PageArg = 1,
        limit: LimitArg = 20,
    ) -> CallToolResult:  # fmt: skip
        """Get detailed test run results including individual test case outcomes. Retrieves the run summary
        (status, pass rate, failure count) and a paginated list of test case results, with optional
        filtering by outcome status."""
        agent, run, chosen = _param(lambda: params.get_test_run(agent_name, test_run_id, status, page, limit))
        data, base_url = await _rest(client_for, ctx, lambda client: client.get_run(
            agent, run, status=chosen, page=page, limit=limit), error=_get_run_error)
        return answer(text.test_run(data, base_url), data)

    @mcp.tool(name="invarium_get_agent", annotations=_READ)
    @_exact_errors
    async def get_agent(agent_name: AgentArg, ctx: Context) -> CallToolResult:
        """Get one agent's Agent Quality Score (AQS), its latest test run and its score trend over runs."""
        agent = _param(lambda: params.required(agent_name, "agent_name"))
        data, _ = await _rest(client_for, ctx, lambda client: client.get_agent(agent))
        return answer(text.agent(data), data)

    @mcp.tool(name="invarium_list_agents", annotations=_READ)
    @_exact_errors
    async def list_agents(ctx: Context) -> CallToolResult:
        """List the agents with test runs, with their AQS and latest run."""
        data, _ = await _rest(client_for, ctx, lambda client: client.list_agents())
        return answer(text.agents(data), data)

    @mcp.tool(name="invarium_compare_test_runs", annotations=_READ)
    @_exact_errors
    async def compare_test_runs(
        agent_name: AgentArg,
        base_test_run_id: Annotated[str, Field(description="The earlier run (the baseline).")],
        head_test_run_id: Annotated[str, Field(description="The newer run to check for regressions.")],
        ctx: Context,
    ) -> CallToolResult:  # fmt: skip
        """Compare two test runs of an agent: BSS/AQS delta, regressions (passed -> failed), fixes, cases
        new in head and cases missing from head. Cases are matched by scenario id."""

        def check() -> tuple[str, str, str]:
            return (params.required(agent_name, "agent_name"), params.required(base_test_run_id, "base_test_run_id"),
                    params.required(head_test_run_id, "head_test_run_id"))  # fmt: skip

        agent, base, head = _param(check)
        data, _ = await _rest(client_for, ctx, lambda client: client.compare(agent, base, head))
        return answer(text.compare(data), data)

    @mcp.tool(name="invarium_rescore", annotations=_WRITE)
    @_exact_errors
    async def rescore(
        ctx: Context,
        agent_name: Annotated[str | None, Field(description="Only this agent's runs.")] = None,
        test_run_ids: Annotated[list[str] | None, Field(description="Only these runs.")] = None,
        since: Annotated[str | None, Field(description="Runs first synced at or after this ISO 8601 time.")] = None,
        until: Annotated[str | None, Field(description="Runs first synced before this ISO 8601 time.")] = None,
    ) -> CallToolResult:  # fmt: skip
        """Re-score past results with the current scoring algorithm (admin API key). Starts a background
        job and answers with its id; old scores stay visible until the job switches over."""
        body = {"agent_name": agent_name or None, "test_run_ids": test_run_ids or [], "since": since, "until": until}
        data, _ = await _rest(client_for, ctx, lambda client: client.start_rescore(body))
        return answer(text.rescore_job(data), data)

    # agent_name and test_run_id have defaults so that a missing one gets the seed's text
    # ("test_run_id is required and cannot be empty") instead of a validation dump; the published
    # schema still marks them required, as the seed documents them.
    schema = mcp._tool_manager.get_tool("invarium_get_test_run").parameters
    schema["required"] = ["agent_name", "test_run_id"]
    return mcp


async def _rest(client_for: ClientFactory, ctx: Context, call: Callable[[InvariumClient], Awaitable[Any]],
                error: Callable[[InvariumError], str] = lambda exc: exc.detail) -> tuple[Any, str]:  # fmt: skip
    """One REST call of a tool: its answer and the client's base URL; a server error becomes a
    ``ToolError`` with the server's own text (``error`` may reword it)."""
    async with client_for(ctx) as client:
        try:
            return await call(client), client.base_url
        except InvariumError as exc:
            raise ToolError(error(exc)) from None


def _get_run_error(exc: InvariumError) -> str:
    """The seed passes auth, unknown agent and parameter errors through; anything else is prefixed."""
    d = exc.detail
    passthrough = (exc.status == 401 or d.startswith("Agent not found:") or d.startswith("Invalid status")
                   or d in ("test_run_id is required and cannot be empty", "page must be 1 or greater",
                            "limit must be between 1 and 100"))  # fmt: skip
    return d if passthrough else f"Failed to get test run: {d}"
