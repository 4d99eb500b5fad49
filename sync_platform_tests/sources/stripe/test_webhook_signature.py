"""Webhook verification: SDK-checked signatures, secret rotation, stale and malformed rejections."""

from __future__ import annotations

import json
import time

import pytest
import stripe

from sync_platform.sources.stripe.webhook_signature import (
    RejectionReason,
    WebhookVerificationError,
    verify_webhook,
)

SECRET = "whsec_" + "current0123456789"
OLD_SECRET = "whsec_" + "previous0123456789"
EVENT = {
    "id": "evt_1",
    "object": "event",
    "type": "customer.updated",
    "created": 1_767_225_600,
    "account": "acct_9",
    "data": {"object": {"id": "cus_1", "object": "customer"}, "previous_attributes": {"name": "Old"}},
}
BODY = json.dumps(EVENT)


def sign(body: str, secret: str, at: float | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=int(at or time.time()))


def rejected(body: str, header: str | None, secrets: list[str], **kwargs: float) -> WebhookVerificationError:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(body, header, secrets, **kwargs)  # type: ignore[arg-type]  # now: float
    return caught.value


def test_a_correctly_signed_event_is_returned_parsed() -> None:
    event = verify_webhook(BODY.encode(), sign(BODY, SECRET), [SECRET])
    assert (event.id, event.type, event.account) == ("evt_1", "customer.updated", "acct_9")
    assert event.payload["data"]["object"]["id"] == "cus_1"


def test_any_of_several_secrets_verifies_so_secrets_can_rotate() -> None:
    assert verify_webhook(BODY, sign(BODY, OLD_SECRET), [SECRET, OLD_SECRET]).id == "evt_1"


def test_a_header_with_several_v1_signatures_verifies_if_one_matches() -> None:
    good = sign(BODY, SECRET)
    timestamp = good.split(",")[0]
    header = f"{timestamp},v1={'0' * 64},{good.split(',')[1]}"
    assert verify_webhook(BODY, header, [SECRET]).id == "evt_1"


def test_a_forged_signature_is_rejected_without_revealing_the_secret() -> None:
    error = rejected(BODY, sign(BODY, "whsec_attacker"), [SECRET])
    assert error.reason == RejectionReason.BAD_SIGNATURE
    assert SECRET not in str(error)


def test_a_tampered_body_is_rejected() -> None:
    header = sign(BODY, SECRET)
    assert rejected(BODY.replace("cus_1", "cus_2"), header, [SECRET]).reason == RejectionReason.BAD_SIGNATURE


def test_a_stale_signature_is_rejected_as_stale() -> None:
    now = time.time()
    error = rejected(BODY, sign(BODY, SECRET, at=now - 301), [SECRET], now=now)
    assert error.reason == RejectionReason.STALE
    assert verify_webhook(BODY, sign(BODY, SECRET, at=now - 299), [SECRET], now=now).id == "evt_1"


def test_missing_header_missing_secret_and_malformed_bodies_are_typed() -> None:
    assert rejected(BODY, None, [SECRET]).reason == RejectionReason.MISSING_HEADER
    assert rejected(BODY, sign(BODY, SECRET), []).reason == RejectionReason.NO_SECRET
    assert rejected(BODY, "garbage", [SECRET]).reason == RejectionReason.BAD_SIGNATURE
    not_an_event = json.dumps({"id": "x", "object": "customer"})
    assert (
        rejected(not_an_event, sign(not_an_event, SECRET), [SECRET]).reason
        == RejectionReason.MALFORMED_PAYLOAD
    )
    assert rejected("[1,", sign("[1,", SECRET), [SECRET]).reason == RejectionReason.MALFORMED_PAYLOAD
