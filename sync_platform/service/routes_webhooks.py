"""``POST /webhooks/{pipeline_id}``: the webhook receiver, served inside the service.

The receiver stays its own app (``sync_platform.webhooks.create_app``), mountable alone for a
deployment that exposes only webhooks; here each delivery is handed to it untouched (headers and
raw body: the signature covers the exact bytes). It needs no token, since Stripe signs every
delivery, and it answers as it always does (``{"received", "duplicate"}``, or ``{"error",
"reason"}`` with 400/404/413/503): Stripe only looks at the status to decide whether to retry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

router = APIRouter(tags=["webhooks"])

_REASONS = "`bad_signature`, `stale`, `missing_header`, `malformed_payload`, `no_secret`, `too_deep`"


class _HandOver(Response):
    """A response that lets another ASGI app answer the request itself."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _answer(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": example}}}


@router.post(
    "/webhooks/{pipeline_id}",
    operation_id="webhooks.push",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A Stripe event, exactly as Stripe sent it (at most 1 MiB).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
    responses={
        200: _answer("Stored (or already stored: a redelivery)", {"received": True, "duplicate": False}),
        400: _answer(f"Refused; `reason` is one of {_REASONS}", {"error": "…", "reason": "bad_signature"}),
        404: _answer("No such pipeline, or a deleted one", {"error": "…", "reason": "unknown_pipeline"}),
        413: _answer("Body over 1 MiB", {"error": "…", "reason": "too_large"}),
        503: _answer("Cannot store it now; Stripe retries", {"error": "…", "reason": "store_unavailable"}),
    },
)
async def push(
    request: Request,
    pipeline_id: Annotated[str, Path(description="The pipeline the endpoint belongs to.")],
    stripe_signature: Annotated[str | None, Header(description="Stripe's `t=…,v1=…` signature.")] = None,
) -> Response:
    """Receive a Stripe webhook: verify its signature with the pipeline's secret, store it in the
    pipeline's inbox, answer at once. No token: the signature is the authentication."""
    return _HandOver(request.app.state.webhook_receiver)
