"""HTTP edge pieces shared by the services: errors, auth dependency, bounded body reading."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from services.common.auth import AUTH_FAILED, KeyRing, Principal, Role, forbidden

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <API key>")


class ApiError(Exception):
    """An error with an HTTP status and a message a person can act on."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None, errors: Any = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.errors = errors


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _error_response(status: int, detail: str, headers: dict[str, str] | None = None, errors: Any = None):
    body: dict[str, Any] = {"detail": detail}
    if errors:
        body["errors"] = errors
    return json_response(body, status, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return _error_response(exc.status, exc.detail, exc.headers, exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        errors = list(exc.errors())
        return _error_response(422, describe_errors(errors), errors=_public_errors(errors))


def require(role: Role):
    """FastAPI dependency: the caller's principal, if its key has at least ``role``."""

    async def dependency(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        api_key: str | None = Depends(_api_key),
    ) -> Principal:
        keyring: KeyRing = request.app.state.keyring
        key = api_key or (bearer.credentials if bearer else None)
        principal = keyring.authenticate(key)
        if principal is None:
            raise ApiError(401, AUTH_FAILED, headers={"WWW-Authenticate": "Bearer"})
        if not principal.can(role):
            raise ApiError(403, forbidden(role, principal.role))
        return principal

    return dependency


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    too_big = f"Request body too large: the limit is {limit:,} bytes (INVARIUM_MAX_BODY_BYTES); send fewer results per request"
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, too_big)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype and ctype != "application/json" and not ctype.endswith("+json"):
        raise ApiError(415, f"Unsupported Content-Type {ctype!r}: send application/json")
    if declared and declared.isdigit():
        return await request.body()  # the server stops at Content-Length
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(adapter: TypeAdapter, body: bytes, *, empty_ok: bool = False):
    """Validate raw JSON bytes with ``adapter``: 400 for malformed JSON, 422 for wrong content."""
    if not body.strip():
        if empty_ok:
            body = b"{}"
        else:
            raise ApiError(400, "Request body is empty: send a JSON object")
    try:
        return adapter.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ApiError(400, f"Malformed JSON: {errors[0]['ctx'].get('error', 'invalid JSON')}") from None
        raise ApiError(422, describe_errors(errors), errors=_public_errors(errors)) from None


def _loc(error: dict[str, Any]) -> str:
    parts = [str(p) for p in error.get("loc", ()) if p not in ("body", "path", "query", "header")]
    return ".".join(parts)


def _describe_one(error: dict[str, Any]) -> str:
    loc, kind, msg = _loc(error), error.get("type", ""), error.get("msg", "")
    ctx = error.get("ctx") or {}
    if loc == "results" and kind == "too_long":
        got = ctx.get("actual_length")
        return (
            f"results: a sync holds at most {ctx.get('max_length', 1000):,} results (got {got:,}); "
            "split them into several syncs to the same test_run_id"
            if isinstance(got, int)
            else "results: a sync holds at most 1,000 results; split them into several syncs to the same test_run_id"
        )
    if loc == "results" and kind == "too_short":
        return "results: at least one result is required"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "model_type" and not loc:
        return "Request body must be a JSON object"
    shown = error.get("input")
    if kind in ("literal_error", "enum", "string_type", "int_type", "float_type", "bool_type", "list_type", "dict_type",
                "int_parsing", "float_parsing", "bool_parsing", "datetime_parsing", "datetime_from_date_parsing"):
        value = repr(shown)
        msg = f"{msg} (got {value if len(value) <= 60 else value[:60] + '…'})"
    return f"{loc}: {msg}" if loc else msg


def describe_errors(errors: list[dict[str, Any]], limit: int = 5) -> str:
    parts = [_describe_one(e) for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more problems")
    return "; ".join(parts) or "Invalid request"


def _public_errors(errors: list[dict[str, Any]], limit: int = 20) -> list[dict[str, Any]]:
    return [{"loc": _loc(e), "type": e.get("type"), "message": _describe_one(e)} for e in errors[:limit]]


def chain_lifespan(app: FastAPI, part: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> None:
    """Run ``part(app)`` inside the app's existing lifespan: how one process hosts several services
    (``services.api``) while each service still owns its own start-up and shut-down."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[Any]:
        async with inner(a) as state:
            async with part(a):
                yield state

    app.router.lifespan_context = lifespan
