"""Stream events: the source of truth every table is projected from.

Frozen, past-tense, versioned. A change of meaning is a new ``schema_version`` plus an
upcaster in ``schemas.upcast``, never an edit of an existing version. Golden payloads of
every version live in ``tests/golden/`` and are never edited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from schemas.names import AgentName, ResultId, RunId
from schemas.wire import Source, TestCaseResult

SCHEMA_VERSION = 1
EVENT_TYPES = ("RunCreated", "ResultsSynced", "RunCompleted", "RunDeleted")


class EventEnvelope(BaseModel):
    """Every stream entry: who, what, when, and a type-specific payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1, max_length=64)
    type: str
    schema_version: int = Field(ge=1)
    agent: AgentName
    run: RunId
    at: datetime
    payload: dict[str, Any]


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunCreatedPayload(_Payload):
    source: Source
    mode: Literal["sync", "streaming"] = Field(description="sync: created by a one-shot sync; streaming: create_empty.")


class StoredResult(TestCaseResult):
    """A result as logged: redacted, with its ``result_id`` always set.

    Ingest logs a validated result's JSON as the client sent it, so fields this version does
    not know are kept in the log (and ignored here) rather than lost.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    result_id: ResultId


class ResultsSyncedPayload(_Payload):
    sync_id: str = Field(description="Groups the events written by one request.")
    source: Source
    results: list[StoredResult] = Field(min_length=1)


class RunCompletedPayload(_Payload):
    pass


class RunDeletedPayload(_Payload):
    reason: str | None = None


class _Typed(EventEnvelope):
    schema_version: Literal[1] = 1


class RunCreated(_Typed):
    type: Literal["RunCreated"] = "RunCreated"
    payload: RunCreatedPayload  # type: ignore[assignment]


class ResultsSynced(_Typed):
    type: Literal["ResultsSynced"] = "ResultsSynced"
    payload: ResultsSyncedPayload  # type: ignore[assignment]


class RunCompleted(_Typed):
    type: Literal["RunCompleted"] = "RunCompleted"
    payload: RunCompletedPayload = RunCompletedPayload()  # type: ignore[assignment]


class RunDeleted(_Typed):
    type: Literal["RunDeleted"] = "RunDeleted"
    payload: RunDeletedPayload = RunDeletedPayload()  # type: ignore[assignment]


Event = Annotated[Union[RunCreated, ResultsSynced, RunCompleted, RunDeleted], Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
