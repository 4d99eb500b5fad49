"""One mapping from errors to HTTP answers: ``{"error": {"type", "message", "field"?}}`` and a status.

The status comes from the error itself: the platform's errors carry ``http_status`` (404 unknown
pipeline, 409 conflicts and refused runs, 422 a failed connector check), a config the store refused
is a 400, an unreachable app database a 503, a connector's failure (it carries a ``failure_kind``)
a 502. The message is the error's own, redacted: the same words the CLI prints after ``Error:``.
An unexpected exception is a 500 whose body names only its type; its traceback goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.pipelines import StoreUnavailableError
from sync_platform.redaction import redact

logger = logging.getLogger(__name__)


class ApiError(SyncPlatformError):
    """An answer the service itself gives (authentication, preconditions, an unknown route)."""

    http_status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class UnauthorizedError(ApiError):
    http_status = 401


class ForbiddenError(ApiError):
    http_status = 403


class RouteNotFoundError(ApiError, LookupError):
    http_status = 404


class MethodNotAllowedError(ApiError):
    http_status = 405


class PreconditionFailedError(ApiError):
    """``If-Match`` named a version the pipeline is no longer at (the CLI's ``--expected-version``)."""

    http_status = 412


class RequestValidationFailed(ApiError, ValueError):
    """The request does not match the API's schema; ``field`` names where."""

    http_status = 400


class RunFailedError(ApiError, RuntimeError):
    """A lane failed before it produced a batch to return (its error is recorded on the pipeline)."""

    http_status = 502


def http_status_of(error: BaseException) -> int:
    status = getattr(error, "http_status", None)
    if isinstance(status, int):
        return status
    if isinstance(error, StoreUnavailableError):
        return 503
    if isinstance(error, ConfigError | ValueError):
        return 400
    if isinstance(error, LookupError):
        return 404
    if getattr(error, "failure_kind", None) is not None:
        return 502  # a connector's failure: the system behind it refused or failed
    return 500


def error_body(error: BaseException) -> dict[str, Any]:
    """``{"error": {"type", "message", "field"?}}``: the CLI's words, never a secret."""
    status = http_status_of(error)
    if isinstance(error, SyncPlatformError) or status < 500:
        message = redact(str(error))
    else:
        message = f"Internal error ({type(error).__name__}); the service log has the details."
    payload: dict[str, Any] = {"type": type(error).__name__, "message": message}
    field = getattr(error, "api_field", None) or getattr(error, "field", None)
    if isinstance(field, str) and field:
        payload["field"] = field
    return {"error": payload}


def error_response(error: BaseException) -> JSONResponse:
    status = http_status_of(error)
    if status >= 500 and not isinstance(error, SyncPlatformError):
        logger.error("request failed: %s", redact(f"{type(error).__name__}: {error}"), exc_info=error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(error), status_code=status, headers=headers)


def _validation_error(error: RequestValidationError) -> RequestValidationFailed:
    """The first problem, naming its field as the request spells it (``source``, ``state_limit``)."""
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
    location = [str(part) for part in first.get("loc", ())]
    where = ".".join(
        location[1:] if location and location[0] in ("body", "query", "path", "header") else location
    )
    message = str(first.get("msg", "invalid value"))
    text = f"Invalid request at {where!r}: {message}." if where else f"Invalid request: {message}."
    return RequestValidationFailed(text, field=where or None)


def install_error_handlers(app: FastAPI) -> None:
    async def platform_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(error)

    async def validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response(_validation_error(error))

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code == 404:
            mapped: ApiError = RouteNotFoundError(f"No such endpoint: {request.method} {request.url.path}.")
        elif error.status_code == 405:
            mapped = MethodNotAllowedError(f"{request.url.path} does not accept {request.method}.")
        else:
            mapped = ApiError(str(error.detail))
            mapped.http_status = error.status_code  # type: ignore[misc]  # an instance's own status
        return error_response(mapped)

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Errors with a meaning of their own are answered by the exception middleware; anything else
    # (a bug) reaches the server-error middleware, which answers 500 and logs the traceback.
    for expected in (SyncPlatformError, ValueError, LookupError, ConnectionError):
        app.add_exception_handler(expected, platform_error)
    app.add_exception_handler(Exception, platform_error)
