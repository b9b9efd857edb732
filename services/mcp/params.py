"""Local checks of tool and command parameters, with the seed's exact error texts
(``../shared/seeds/002_e7c5a5ffd39153cc.txt``), so a bad call fails before any request."""

from __future__ import annotations

RESULT_STATUSES = ("passed", "failed", "error", "pending")
RUN_STATUSES = ("all", "has_failures", "all_passed")
SOURCES = ("mcp", "ci", "cli", "api")
RANGES = ("24h", "7d", "30d")
MAX_LIMIT = 100


class ParamError(ValueError):
    """A parameter the caller can fix; the message is shown as is."""


def required(value: str | None, name: str) -> str:
    if value is None or not str(value).strip():
        raise ParamError(f"{name} is required and cannot be empty")
    return str(value).strip()


def page_and_limit(page: int, limit: int) -> None:
    if page < 1:
        raise ParamError("page must be 1 or greater")
    if not 1 <= limit <= MAX_LIMIT:
        raise ParamError(f"limit must be between 1 and {MAX_LIMIT}")


def one_of(value: str | None, allowed: tuple[str, ...], what: str = "status") -> str | None:
    """``value`` if allowed, None if omitted; else the seed's ``Invalid status '<v>'``."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ParamError(f"Invalid {what} '{value}'")
    return value


def get_test_run(agent_name: str | None, test_run_id: str | None, status: str | None, page: int, limit: int):
    """The checks of ``invarium_get_test_run``, in the seed's order; returns (agent, run, status)."""
    agent = required(agent_name, "agent_name")
    run = required(test_run_id, "test_run_id")
    chosen = one_of(status, RESULT_STATUSES)
    page_and_limit(page, limit)
    return agent, run, chosen
