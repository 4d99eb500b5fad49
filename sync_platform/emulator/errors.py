"""Stripe-shaped API errors, and the errors the emulator's Python API raises on misuse.

``ApiError`` is raised inside request handling and turned into the body Stripe sends
(``{"error": {"type", "code", "message", "param"}}``) with the matching status, so the real
``stripe`` SDK raises the same exception class it would against api.stripe.com.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_platform.errors import SyncPlatformError

DOCS_URL = "https://stripe.com/docs/error-codes"


class EmulatorError(SyncPlatformError, ValueError):
    """A call to the emulator's Python or admin API that cannot be carried out."""


class ApiError(SyncPlatformError):
    """An error response the emulated API sends: status, Stripe error fields, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status, self.error_type, self.code, self.param = status, error_type, code, param
        self.headers = dict(headers or {})
        super().__init__(message)

    @property
    def message(self) -> str:
        return str(self)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS_URL}#{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def unknown_parameter(name: str) -> ApiError:
    return ApiError(400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name)


def invalid_parameter(name: str, message: str) -> ApiError:
    return ApiError(400, message, code="parameter_invalid_integer", param=name)


def missing_parameter(name: str) -> ApiError:
    return ApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)


def resource_missing(object_name: str, object_id: str, *, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {object_name}: '{object_id}'", code="resource_missing", param=param)


def unrecognized_url(method: str, path: str) -> ApiError:
    return ApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )
