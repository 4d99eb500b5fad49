"""The HTTP service: the pipelines API (OpenAPI 3.1), the pipeline console and the webhook receiver.

``create_service_app(Services(store, engine))`` builds the one ASGI app; ``serve`` runs it with
uvicorn, as ``sync-platform serve`` does. Everything behind it is the platform's own: the store
validates and masks, the pipeline runner runs lanes, tokens come from ``pipelines.api_tokens``.
"""

from sync_platform.service.app import create_service_app
from sync_platform.service.errors import error_body, http_status_of
from sync_platform.service.openapi import openapi_document
from sync_platform.service.server import DEFAULT_HOST, DEFAULT_PORT, ServiceServer, bind_socket, serve
from sync_platform.service.services import DAGSTER_URL_ENV, PUBLIC_URL_ENV, Services, ServiceSettings

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
