"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from api.pages import error_page, wants_page
from sojourn.data.ingest.text import json_problem, loads_strict
from sojourn.errors import Conflict, Invalid, NotFound, SojournError, Unavailable, UpstreamFailed
from sojourn.services.temporal_reach import TemporalUnavailable, out_of_reach

ModelT = TypeVar("ModelT", bound=BaseModel)

# What each kind of refusal a service raises answers; anything else is a 500.
_STATUS = ((NotFound, 404), (Conflict, 409), (Invalid, 422), (Unavailable, 503), (UpstreamFailed, 502),
           (SojournError, 500))


def status_of(exc: SojournError) -> int:
    """The HTTP status a service's refusal answers (the console answers its pages with it too)."""
    return next(status for kind, status in _STATUS if isinstance(exc, kind))


# A database (or Temporal) that cannot be reached right now (down, restarting, out of connections)
# is a 503 the client retries after `Retry-After` seconds; the API reconnects by itself once it is back.
DATABASE_RETRY_AFTER = 5
_DATABASE_DOWN = (
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or was lost
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
)
_DRIVERS = ("asyncpg", "sqlalchemy")


class ApiError(StarletteHTTPException):
    """A refusal of the HTTP request itself (authentication, media type, body shape); what a
    service refuses is a `SojournError`. An HTTPException, so that FastAPI passes it on
    unchanged when it is raised while the body is read."""

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(status, message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


def invalid_input(field: str, message: str, kind: str = "invalid_input") -> ApiError:
    """A 422 naming the one field that is wrong, as a validation error lists it."""
    return ApiError(422, "validation_error", f"{field}: {message}",
                    [{"field": field, "message": message, "type": kind}])


def checked_json(body: bytes) -> Any:
    """A JSON body parsed strictly (no NaN or Infinity); a 422 naming the field if it is nested
    more than MAX_JSON_DEPTH levels deep or holds text Postgres refuses (NUL, lone surrogates).
    json.JSONDecodeError if it is not JSON at all."""
    try:
        value = loads_strict(body)
    except json.JSONDecodeError:
        raise
    except ValueError as err:  # NaN, nesting deeper than the parser's stack, not UTF-8
        raise invalid_input("body", str(err), "invalid_json") from None
    if problem := json_problem(value):
        where, why = problem
        raise invalid_input(f"body.{where}" if where else "body", why, "invalid_json")
    return value


def parsed(model: type[ModelT], body: bytes) -> ModelT:
    """A raw body (read first to check its signature) as `model`; a 422 listing every problem otherwise."""
    try:
        value = checked_json(body)
    except json.JSONDecodeError as err:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", err.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": err.msg}}]) from None
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise RequestValidationError(err.errors()) from err


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def _respond(status: int, code: str, message: str, details: list[Any] | None = None, headers=None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _raised_by_driver(exc: BaseException) -> bool:
    # A refused or timed-out connect reaches us as a bare OSError; only one that came up through
    # the database driver says the database is down (other OSErrors stay 500s).
    return any(frame.f_globals.get("__name__", "").partition(".")[0] in _DRIVERS
               for frame, _ in traceback.walk_tb(exc.__traceback__))


def database_unavailable(exc: BaseException) -> bool:
    for cause in _causes(exc):
        if isinstance(cause, _DATABASE_DOWN):
            return True
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, OSError) and _raised_by_driver(cause):
            return True
    return False


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def validation_summary(errors: Sequence[Any]) -> tuple[str, list[dict[str, Any]]]:
    """A 422's message and details for pydantic's errors (locations as the request names them: `body.script.0.at`)."""
    details = [{"field": _location(e["loc"]), "message": e["msg"], "type": e["type"]} for e in errors]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return summary or "invalid request", details


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _respond(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(SojournError)
    async def _refused(request: Request, exc: SojournError) -> Response:
        status = status_of(exc)
        if wants_page(request):
            return error_page(status, exc.message)
        return _respond(status, exc.code, exc.message, exc.details)

    async def _database_error(_: Request, exc: Exception) -> JSONResponse:
        if not database_unavailable(exc):
            raise exc
        return _respond(503, "database_unavailable", "the database is unavailable; retry shortly",
                        headers={"Retry-After": str(DATABASE_RETRY_AFTER)})

    for kind in (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError, asyncpg.PostgresError, OSError):
        app.add_exception_handler(kind, _database_error)

    async def _temporal_error(request: Request, exc: Exception) -> Response:
        """A route that asks Temporal while it is out of reach: 503, as its own refusals say it."""
        if not out_of_reach(exc):
            raise exc
        response = await _refused(request, TemporalUnavailable("Temporal is unavailable; retry shortly"))
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
        return response

    for kind in (RPCError, RuntimeError):
        app.add_exception_handler(kind, _temporal_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        summary, details = validation_summary(exc.errors())
        return _respond(422, "validation_error", summary, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(exc.status_code, "http_error")
        return _respond(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))
