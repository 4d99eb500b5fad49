"""Who may call what: a bearer token on every endpoint but /health and /webhooks, read vs admin."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.pipelines.api_tokens import ApiTokens
from sync_platform_tests.service.conftest import NULL_DESTINATION, SECRETIVE_SOURCE, RunningService

READS = [
    ("GET", "/pipelines"),
    ("GET", "/pipelines/shop"),
    ("GET", "/pipelines/shop/runs"),
    ("GET", "/streams"),
    ("GET", "/connectors"),
    ("GET", "/openapi.json"),
]
WRITES = [
    ("POST", "/pipelines", {"source": SECRETIVE_SOURCE, "destination": NULL_DESTINATION}),
    ("PATCH", "/pipelines/shop", {"desired_status": "paused"}),
    ("DELETE", "/pipelines/shop", None),
    ("POST", "/pipelines/shop/sync", None),
    ("POST", "/pipelines/shop/sync_batch", None),
    ("POST", "/pipelines/shop/check", None),
    ("POST", "/pipelines/shop/setup", None),
    ("POST", "/pipelines/shop/teardown", None),
]
EVERY = [(method, path, None) for method, path in READS] + WRITES


@pytest.fixture
def shop(service: RunningService) -> RunningService:
    created = service.admin.post(
        "/pipelines", json={"id": "shop", "source": SECRETIVE_SOURCE, "destination": NULL_DESTINATION}
    )
    assert created.status_code == 201
    return service


def call(client: Any, method: str, path: str, body: Any) -> Any:
    return client.request(method, path, json=body)


def test_every_endpoint_needs_a_valid_token(shop: RunningService) -> None:
    anonymous, wrong, garbled = shop.client(), shop.client("spt_" + "x" * 43), shop.client("not-a-token")
    for method, path, body in EVERY:
        missing = call(anonymous, method, path, body)
        assert missing.status_code == 401, (method, path)
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["error"]["type"] == "UnauthorizedError"
        assert "sync-platform tokens create" in missing.json()["error"]["message"]
        unknown = call(wrong, method, path, body)
        assert unknown.status_code == 401, (method, path)
        assert "not valid" in unknown.json()["error"]["message"]
        assert call(garbled, method, path, body).status_code == 401, (method, path)
    assert shop.store.get("shop").version == 1  # nothing changed


def test_a_read_only_token_reads_but_cannot_change_or_run_anything(shop: RunningService) -> None:
    for method, path in READS:
        assert shop.reader.request(method, path).status_code == 200, (method, path)
    for method, path, body in WRITES:
        refused = call(shop.reader, method, path, body)
        assert refused.status_code == 403, (method, path)
        assert refused.json()["error"]["message"].startswith("The API token 'reader' is read-only")
    assert shop.store.get("shop").version == 1
    assert shop.admin.get("/pipelines/shop/runs").json()["data"] == []  # nothing ran


def test_a_revoked_token_is_refused_from_then_on(shop: RunningService) -> None:
    tokens = ApiTokens(shop.store)
    issued = tokens.create("laptop")
    client = shop.client(issued.secret)
    assert client.get("/pipelines").status_code == 200

    tokens.revoke("laptop")

    refused = client.get("/pipelines")
    assert refused.status_code == 401
    assert refused.json()["error"]["message"].startswith("The API token 'laptop' was revoked")


def test_health_and_webhooks_need_no_token(shop: RunningService) -> None:
    anonymous = shop.client()
    assert anonymous.get("/health").json()["ok"] is True
    delivered = anonymous.post("/webhooks/shop", content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert delivered.status_code == 400  # refused by the receiver (no webhook secret), not by auth
    assert delivered.json()["reason"] == "no_secret"


def test_the_console_cookie_needs_the_console_header_to_write(shop: RunningService) -> None:
    cookie = {"sync_platform_token": shop.admin_token}
    forged = shop.client(cookies=cookie).patch("/pipelines/shop", json={"desired_status": "paused"})
    assert forged.status_code == 403
    assert "X-Sync-Platform-Console" in forged.json()["error"]["message"]
    console = shop.client(cookies=cookie, headers={"X-Sync-Platform-Console": "1"})
    assert console.patch("/pipelines/shop", json={"desired_status": "paused"}).status_code == 200
    assert shop.client(cookies=cookie).get("/pipelines/shop").status_code == 200  # reads need no header


def test_tokens_are_stored_hashed(shop: RunningService) -> None:
    with shop.store.transaction() as tx:
        rows = tx.connection.execute(f'SELECT * FROM "{shop.store.schema}".api_tokens').fetchall()
    stored = repr(rows)
    assert shop.admin_token not in stored
    assert shop.read_token not in stored
    assert {row["prefix"] for row in rows} == {shop.admin_token[:10], shop.read_token[:10]}
