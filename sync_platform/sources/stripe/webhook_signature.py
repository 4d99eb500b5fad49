"""Verifies a Stripe webhook's ``Stripe-Signature`` with the stripe SDK, then parses the event.

The HMAC check itself is the SDK's (``stripe.WebhookSignature.verify_header``), not ours. Around it
this module adds what a receiver needs: several secrets tried in turn (so a secret can be rotated
without dropping events), a typed error whose ``reason`` tells a forged signature from a stale one,
and a structural check of the event before anything is stored. The SDK is imported by the first
verification, not with this module: every ``sync-batch`` loads this module (a pushed raw webhook is
verified here), and most never verify one, so they need not pay the ~0.25 s of CPU the import costs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import SecretStr

from sync_platform.errors import FailureKind, SyncPlatformError
from sync_platform.storable_json import nesting_depth

DEFAULT_TOLERANCE_SECONDS = 300
MAX_EVENT_DEPTH = 64
"""Stripe events nest a handful of levels (event -> data -> object -> lines -> ...); far more is abuse."""


class RejectionReason(StrEnum):
    NO_SECRET = "no_secret"
    MISSING_HEADER = "missing_header"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"
    MALFORMED_PAYLOAD = "malformed_payload"


class WebhookVerificationError(SyncPlatformError, ValueError):
    """A webhook was rejected; nothing from it may be stored. The message never includes a secret.

    Verifying it again fails the same way: ``config`` without a secret to verify with, else
    ``invalid_request`` (a forged, stale, unsigned or malformed webhook).
    """

    def __init__(self, reason: RejectionReason, message: str) -> None:
        self.reason = reason
        self.failure_kind = (
            FailureKind.CONFIG if reason is RejectionReason.NO_SECRET else FailureKind.INVALID_REQUEST
        )
        super().__init__(message)


@dataclass(frozen=True)
class VerifiedEvent:
    """A Stripe event whose signature matched one of the endpoint's secrets."""

    id: str
    type: str
    created: int
    account: str | None
    payload: dict[str, Any]


def _plain(secret: str | SecretStr) -> str:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def _timestamp(header: str) -> int | None:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return None


def verify_webhook(
    body: bytes | str,
    signature_header: str | None,
    secrets: Sequence[str | SecretStr],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> VerifiedEvent:
    """Return the verified event, or raise ``WebhookVerificationError`` saying why not.

    Every ``v1`` signature in the header is checked against every secret; the first match wins.
    A correctly signed event older than ``tolerance_seconds`` is rejected as stale (replay
    protection); a timestamp in the future is accepted, as Stripe's own libraries do.
    """
    plain = [_plain(s) for s in secrets if s is not None and _plain(s).strip()]
    if not plain:
        raise WebhookVerificationError(
            RejectionReason.NO_SECRET,
            "No webhook signing secret is configured for this pipeline; set the Stripe source's "
            "`webhook_secret` (it starts with `whsec_`).",
        )
    if not signature_header:
        raise WebhookVerificationError(
            RejectionReason.MISSING_HEADER, "The request has no Stripe-Signature header."
        )
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes | bytearray) else body
    if not any(_signed_with(secret, text, signature_header) for secret in plain):
        raise WebhookVerificationError(
            RejectionReason.BAD_SIGNATURE,
            "The Stripe-Signature does not match any of the pipeline's webhook secrets "
            "(a forged request, or the endpoint's secret changed: update `webhook_secret`).",
        )
    signed_at = _timestamp(signature_header)
    current = time.time() if now is None else now
    if signed_at is None or current - signed_at > tolerance_seconds:
        age = "unknown" if signed_at is None else f"{int(current - signed_at)}s"
        raise WebhookVerificationError(
            RejectionReason.STALE,
            f"The webhook was signed too long ago ({age} > {tolerance_seconds}s tolerance); "
            "replayed or delayed deliveries are rejected.",
        )
    return _parse_event(text)


def _signed_with(secret: str, text: str, signature_header: str) -> bool:
    """Whether one of the header's ``v1`` signatures is ``text``'s with ``secret`` (age not checked)."""
    import stripe  # on first use: see the module docstring

    try:
        stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return False
    return True


def _parse_event(text: str) -> VerifiedEvent:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        raise WebhookVerificationError(
            RejectionReason.MALFORMED_PAYLOAD, "The webhook body is not JSON."
        ) from None
    except RecursionError:
        payload = None  # nested too deep for the parser: refused just below
    if payload is None or nesting_depth(payload) > MAX_EVENT_DEPTH:
        raise WebhookVerificationError(
            RejectionReason.MALFORMED_PAYLOAD,
            f"The webhook body nests objects deeper than {MAX_EVENT_DEPTH} levels; no Stripe event does.",
        )
    return event_from_payload(payload)


def event_from_payload(payload: Any) -> VerifiedEvent:
    """The event in an already-parsed payload, or ``WebhookVerificationError(MALFORMED_PAYLOAD)``."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if (
        not isinstance(payload, dict)
        or payload.get("object") != "event"
        or not isinstance(payload.get("id"), str)
        or not isinstance(payload.get("type"), str)
        or not isinstance(payload.get("created"), int)
        or not isinstance(data, dict)
        or not isinstance(data.get("object"), dict)
    ):
        raise WebhookVerificationError(
            RejectionReason.MALFORMED_PAYLOAD,
            "The webhook body is not a Stripe event (expected object 'event' with id, type, created "
            "and data.object).",
        )
    account = payload.get("account")
    return VerifiedEvent(
        id=payload["id"],
        type=payload["type"],
        created=payload["created"],
        account=account if isinstance(account, str) else None,
        payload=payload,
    )
