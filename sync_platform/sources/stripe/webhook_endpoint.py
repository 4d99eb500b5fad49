"""Setup and teardown: the account facts a pipeline keeps, and the webhook endpoints it manages.

Setup looks up what the config lacks (``account_id``, ``account_created``) and, when
``webhook_url`` is set, makes sure Stripe sends webhooks there: it reuses an enabled endpoint this
source created earlier (tagged ``metadata[managed_by]``) for that URL, or creates one subscribed
to every event (``*``: Stripe allows 16 endpoints per account, so one per URL rather than one per
stream). Stripe shows a signing secret only when it creates an endpoint, so a managed endpoint
whose secret the config lost is replaced rather than reused. With Connect accounts, a second,
``connect=true`` endpoint receives their events, and ``webhook_secret`` becomes the list of both
secrets (verification tries each in turn). Anything setup learns comes back as one ``control``
message holding the whole updated config.

Teardown deletes exactly the endpoints setup manages for this URL and never any other.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from sync_platform.protocol import LogLevel, Message, log, source_config_control
from sync_platform.sources.stripe.accounts import ACCOUNT_PATH
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.config import StripeSourceConfig

ENDPOINTS_PATH = "/v1/webhook_endpoints"
MANAGED_BY = "sync_platform"
SCOPES = ("account", "connect")


def _is_managed(endpoint: dict[str, Any], url: str, scope: str) -> bool:
    metadata = endpoint.get("metadata") or {}
    return (
        endpoint.get("url") == url
        and metadata.get("managed_by") == MANAGED_BY
        and metadata.get("scope", "account") == scope
    )


async def list_endpoints(client: StripeApiClient) -> list[dict[str, Any]]:
    """Every webhook endpoint of the account (all pages, not just the first 100)."""
    endpoints: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        body = (await client.get(ENDPOINTS_PATH, params)).data
        data = body.get("data") or []
        endpoints.extend(data)
        if not body.get("has_more") or not data:
            return endpoints
        params = {"limit": 100, "starting_after": data[-1]["id"]}


async def _ensure_endpoint(
    client: StripeApiClient,
    config: StripeSourceConfig,
    url: str,
    scope: str,
    known_secret: str | None,
    endpoints: list[dict[str, Any]],
) -> tuple[str | None, list[Message]]:
    """The signing secret to keep for ``scope`` (None: keep the configured one), and logs."""
    messages: list[Message] = []
    managed = [endpoint for endpoint in endpoints if _is_managed(endpoint, url, scope)]
    usable = [endpoint for endpoint in managed if endpoint.get("status") == "enabled"]
    if usable and known_secret:
        kept = usable[0]
        for duplicate in managed:
            if duplicate is not kept:
                await client.delete(f"{ENDPOINTS_PATH}/{duplicate['id']}")
        return None, [log(LogLevel.INFO, f"Reusing webhook endpoint {kept['id']} for {url} ({scope}).")]
    for stale in managed:  # disabled, or its secret is no longer known: replace it
        await client.delete(f"{ENDPOINTS_PATH}/{stale['id']}")
        messages.append(log(LogLevel.WARN, f"Replaced webhook endpoint {stale['id']} for {url} ({scope})."))
    params: dict[str, Any] = {
        "url": url,
        "enabled_events": ["*"],
        "api_version": config.api_version,
        "metadata": {"managed_by": MANAGED_BY, "scope": scope},
        "description": "Managed by sync_platform: keeps synced Stripe data current.",
    }
    if scope == "connect":
        params["connect"] = True
    created = (await client.post(ENDPOINTS_PATH, params)).data
    messages.append(log(LogLevel.INFO, f"Created webhook endpoint {created['id']} for {url} ({scope})."))
    return str(created["secret"]), messages


async def setup_messages(
    client: StripeApiClient, config: StripeSourceConfig, raw_config: dict[str, Any]
) -> AsyncGenerator[Message, None]:
    updates: dict[str, Any] = {}
    if config.account_id is None or config.account_created is None:
        account = (await client.get(ACCOUNT_PATH)).data
        if config.account_id is None:
            updates["account_id"] = account["id"]
        if config.account_created is None and isinstance(account.get("created"), int):
            updates["account_created"] = account["created"]
    if config.webhook_url is not None:
        endpoints = await list_endpoints(client)
        known = [secret.get_secret_value() for secret in config.webhook_secrets]
        scopes = SCOPES if config.connected_accounts else SCOPES[:1]
        secrets: list[str] = []
        changed = False
        for index, scope in enumerate(scopes):
            known_secret = known[index] if index < len(known) else None
            secret, messages = await _ensure_endpoint(
                client, config, config.webhook_url, scope, known_secret, endpoints
            )
            for message in messages:
                yield message
            changed = changed or secret is not None
            secrets.append(secret or known_secret or "")
        if changed:
            updates["webhook_secret"] = secrets if len(secrets) > 1 else secrets[0]
    if updates:
        yield source_config_control({**raw_config, **updates})


async def teardown_messages(
    client: StripeApiClient, config: StripeSourceConfig
) -> AsyncGenerator[Message, None]:
    if config.webhook_url is None:
        return
    for endpoint in await list_endpoints(client):
        if any(_is_managed(endpoint, config.webhook_url, scope) for scope in SCOPES):
            await client.delete(f"{ENDPOINTS_PATH}/{endpoint['id']}")
            yield log(LogLevel.INFO, f"Deleted webhook endpoint {endpoint['id']} ({config.webhook_url}).")
