"""The webhook receiver: verify a Stripe signature per pipeline, store the event in the inbox.

``create_app(store)`` builds the Starlette app (``POST /webhooks/{pipeline_id}``, ``GET /healthz``);
``run(store, host=..., port=...)`` serves it with uvicorn, as ``sync-platform serve-webhooks`` does.
Nothing here calls Dagster or runs a sync: the inbox sensor applies stored events.
"""

from sync_platform.webhooks.app import (
    SIGNATURE_HEADER,
    IntakeCounts,
    Outcome,
    ReceiverSettings,
    WebhookVerifier,
    create_app,
)
from sync_platform.webhooks.body import MAX_BODY_BYTES, BodyTooLargeError, read_limited_body
from sync_platform.webhooks.json_logs import JsonLogFormatter, configure_json_logging
from sync_platform.webhooks.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    WebhookServer,
    bind_socket,
    run,
)
from sync_platform.webhooks.targets import DEFAULT_TTL_SECONDS, TargetCache

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_TTL_SECONDS",
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "BodyTooLargeError",
    "IntakeCounts",
    "JsonLogFormatter",
    "Outcome",
    "ReceiverSettings",
    "TargetCache",
    "WebhookServer",
    "WebhookVerifier",
    "bind_socket",
    "configure_json_logging",
    "create_app",
    "read_limited_body",
    "run",
]
