"""``/v1/webhook_endpoints``: create (the only answer that shows the signing secret), list, delete.

An endpoint belongs to the account it was created for. Endpoints of the platform created with
``connect=true`` also receive the events of connected accounts, as Stripe's Connect webhooks do.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from typing import Any

from sync_platform.emulator.errors import ApiError, missing_parameter, resource_missing
from sync_platform.emulator.ids import random_id
from sync_platform.emulator.listing import PageRequest, SortedIndex, select_page
from sync_platform.emulator.objects import dumps, list_body
from sync_platform.emulator.store import AccountData
from sync_platform.sources.stripe import API_VERSION
from sync_platform.sources.stripe.sdk_events import webhook_event_types

LIST_URL = "/v1/webhook_endpoints"
_PRIVATE_KEYS = ("secret", "_connect")
_EVENT_TYPES = frozenset(webhook_event_types())


def public(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The endpoint as list and retrieve return it: without the secret."""
    return {key: value for key, value in endpoint.items() if key not in _PRIVATE_KEYS}


def create_endpoint(
    account: AccountData, params: Mapping[str, Any], *, now: int, rng: random.Random
) -> dict[str, Any]:
    url = params.get("url")
    if not isinstance(url, str) or not url:
        raise missing_parameter("url")
    enabled_events = _enabled_events(params.get("enabled_events"))
    endpoint: dict[str, Any] = {
        "id": random_id("we_", rng, 24),
        "object": "webhook_endpoint",
        "api_version": params.get("api_version") or API_VERSION,
        "application": None,
        "created": now,
        "description": params.get("description"),
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "status": "enabled",
        "url": url,
        "secret": "whsec_" + secrets.token_hex(24),
        "_connect": str(params.get("connect", "false")).lower() == "true",
    }
    account.webhook_endpoints[endpoint["id"]] = endpoint
    return {key: value for key, value in endpoint.items() if key != "_connect"}


def update_endpoint(account: AccountData, endpoint_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    endpoint = _existing(account, endpoint_id)
    changes: dict[str, Any] = {}
    if "enabled_events" in params:
        changes["enabled_events"] = _enabled_events(params["enabled_events"])
    if "disabled" in params:
        changes["status"] = "disabled" if str(params["disabled"]).lower() == "true" else "enabled"
    for name in ("url", "description"):
        if name in params:
            changes[name] = params[name]
    if "metadata" in params:
        changes["metadata"] = {**endpoint["metadata"], **dict(params["metadata"] or {})}
    account.webhook_endpoints[endpoint_id] = {**endpoint, **changes}
    return public(account.webhook_endpoints[endpoint_id])


def delete_endpoint(account: AccountData, endpoint_id: str) -> dict[str, Any]:
    _existing(account, endpoint_id)
    del account.webhook_endpoints[endpoint_id]
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


def retrieve_endpoint(account: AccountData, endpoint_id: str) -> bytes:
    return dumps(public(_existing(account, endpoint_id)))


def list_endpoints(account: AccountData, request: PageRequest) -> bytes:
    endpoints = account.webhook_endpoints
    index = SortedIndex([(int(e["created"]), e["id"]) for e in endpoints.values()])
    cursor = request.starting_after or request.ending_before
    cursor_key = None
    if cursor is not None:
        cursor_endpoint = _existing(account, cursor)
        cursor_key = (int(cursor_endpoint["created"]), cursor)
    keys, has_more = select_page(index, request, cursor_key=cursor_key)
    return list_body([dumps(public(endpoints[i])) for _, i in keys], has_more=has_more, url=LIST_URL)


def endpoints_for_event(
    account: AccountData, platform: AccountData, event_type: str
) -> list[Mapping[str, Any]]:
    """Enabled endpoints that subscribed to ``event_type``: the account's own, plus Connect ones."""
    candidates = list(account.webhook_endpoints.values())
    if account is not platform:
        candidates += [e for e in platform.webhook_endpoints.values() if e.get("_connect")]
    return [
        endpoint
        for endpoint in candidates
        if endpoint["status"] == "enabled"
        and ("*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"])
    ]


def _existing(account: AccountData, endpoint_id: str) -> dict[str, Any]:
    endpoint = account.webhook_endpoints.get(endpoint_id)
    if endpoint is None:
        raise resource_missing("webhook_endpoint", endpoint_id)
    return endpoint


def _enabled_events(raw: Any) -> list[str]:
    if raw is None:
        raise missing_parameter("enabled_events")
    events = [raw] if isinstance(raw, str) else raw
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ApiError(
            400, "Invalid array: enabled_events", code="parameter_invalid_array", param="enabled_events"
        )
    unknown = [e for e in events if e != "*" and e not in _EVENT_TYPES]
    if unknown:
        raise ApiError(
            400,
            f"Invalid enabled_events: {', '.join(unknown)} is not a valid event type.",
            code="parameter_invalid_string",
            param="enabled_events",
        )
    return events
