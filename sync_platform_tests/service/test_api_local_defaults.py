"""Beside ``make dev`` on the emulator, a Stripe pipeline created over HTTP (the API or the console's
form) defaults to the emulator and the local receiver, exactly as one created from the CLI."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.pipelines.local_defaults import LocalStackDefaults
from sync_platform.service import ServiceSettings
from sync_platform_tests.service.conftest import RunningService

EMULATOR = "http://127.0.0.1:12111"
RECEIVER = "http://127.0.0.1:8787"
DESTINATION = {"type": "null", "null": {}}


@pytest.fixture
def service_settings() -> ServiceSettings:
    return ServiceSettings(local_defaults=LocalStackDefaults(EMULATOR, RECEIVER))


def created_source(service: RunningService, stripe: dict[str, Any], **body: Any) -> dict[str, Any]:
    document = {"source": {"type": "stripe", "stripe": stripe}, "destination": DESTINATION, **body}
    response = service.admin.post("/pipelines", json=document, params={"skip_check": True})
    assert response.status_code == 201, response.text
    return dict(response.json()["source"]["stripe"])


def test_a_new_stripe_pipeline_gets_the_emulator_and_its_webhook_url(service: RunningService) -> None:
    source = created_source(service, {"api_key": {"env": "STRIPE_API_KEY"}}, id="shop")
    assert source["base_url"] == EMULATOR
    assert source["webhook_url"] == f"{RECEIVER}/webhooks/shop"


def test_what_the_user_chose_is_kept(service: RunningService) -> None:
    polling = created_source(service, {"api_key": {"env": "STRIPE_API_KEY"}, "poll_events": True}, id="poll")
    assert polling["base_url"] == EMULATOR
    assert polling.get("webhook_url") is None
    elsewhere = created_source(
        service, {"api_key": {"env": "STRIPE_API_KEY"}, "base_url": "http://127.0.0.1:9"}, id="other"
    )
    assert elsewhere["base_url"] == "http://127.0.0.1:9"
    assert elsewhere.get("webhook_url") is None
