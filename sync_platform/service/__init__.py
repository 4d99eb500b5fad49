"""The HTTP service: the pipelines API (OpenAPI 3.1), the pipeline console and the webhook receiver.

``create_service_app(Services(store, engine))`` builds the one ASGI app; ``serve`` runs it with
uvicorn, as ``sync-platform serve`` does. Everything behind it is the platform's own: the store
validates and masks, the pipeline runner runs lanes, tokens come from ``pipelines.api_tokens``.

The names below are imported on first use (PEP 562): the remote CLI needs only ``run_wire``, and
importing FastAPI, Jinja and every route costs a command that never serves ~0.3 s of start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync_platform.service.app import create_service_app
    from sync_platform.service.errors import error_body, http_status_of
    from sync_platform.service.openapi import openapi_document
    from sync_platform.service.server import DEFAULT_HOST, DEFAULT_PORT, ServiceServer, bind_socket, serve
    from sync_platform.service.services import DAGSTER_URL_ENV, PUBLIC_URL_ENV, Services, ServiceSettings

_HOMES = {
    "create_service_app": "app",
    "error_body": "errors",
    "http_status_of": "errors",
    "openapi_document": "openapi",
    "DEFAULT_HOST": "server",
    "DEFAULT_PORT": "server",
    "ServiceServer": "server",
    "bind_socket": "server",
    "serve": "server",
    "DAGSTER_URL_ENV": "services",
    "PUBLIC_URL_ENV": "services",
    "Services": "services",
    "ServiceSettings": "services",
}

__all__ = [
    "DAGSTER_URL_ENV",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "PUBLIC_URL_ENV",
    "ServiceServer",
    "ServiceSettings",
    "Services",
    "bind_socket",
    "create_service_app",
    "error_body",
    "http_status_of",
    "openapi_document",
    "serve",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
