"""Identifier rules.

Agent names and run ids become stream keys, partition values and directory names,
so they are held to a strict, path-safe alphabet. The messages say what to do.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

NAME_MAX = 128
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _shown(value: str) -> str:
    shown = value if len(value) <= 40 else value[:40] + "…"
    return repr(shown)


def check_name(value: str, what: str) -> str:
    """Return ``value`` when it is a safe identifier, else raise ``ValueError`` with advice."""
    if not value or not value.strip():
        raise ValueError(f"{what} is required and cannot be empty")
    if len(value) > NAME_MAX:
        raise ValueError(f"{what} is too long ({len(value)} characters); the limit is {NAME_MAX}")
    if _CONTROL_RE.search(value):
        raise ValueError(f"{what} {_shown(value)} contains control characters")
    if ".." in value or "/" in value or "\\" in value:
        raise ValueError(f"{what} {_shown(value)} must not contain '/', '\\' or '..'")
    if not _NAME_RE.fullmatch(value):
        raise ValueError(
            f"{what} {_shown(value)} is not valid: use letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def check_label(value: str, what: str, limit: int = 256) -> str:
    """Free-text identifiers (scenario ids, result ids): bounded, no control characters."""
    if not value or not value.strip():
        raise ValueError(f"{what} cannot be empty")
    if len(value) > limit:
        raise ValueError(f"{what} is too long ({len(value)} characters); the limit is {limit}")
    if _CONTROL_RE.search(value):
        raise ValueError(f"{what} {_shown(value)} contains control characters")
    return value


AgentName = Annotated[str, AfterValidator(lambda v: check_name(v, "agent_name"))]
RunId = Annotated[str, AfterValidator(lambda v: check_name(v, "test_run_id"))]
ResultId = Annotated[str, AfterValidator(lambda v: check_label(v, "result_id", 200))]
ScenarioId = Annotated[str, AfterValidator(lambda v: check_label(v, "scenario_id", 256))]
