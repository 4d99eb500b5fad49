"""Completes the lists Stripe embeds in an object (``invoice.lines``, ``subscription.items``).

Stripe embeds only the first page (ten items) of such a list, with ``has_more`` and a ``url``.
The raw record must hold the whole list, or an invoice with 40 lines would be stored with 10,
so every embedded list with ``has_more`` is paged to the end through the catalog's list path for
it (a sub-path like ``/v1/invoices/{id}/lines`` or a filtered list like
``/v1/subscription_items?subscription=…``) and replaced by ``{…, "data": all, "has_more": false}``.
Lists Stripe did not embed (they need ``expand[]``) are left absent rather than fetched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sync_platform.sources.stripe.catalog import NestedListDefinition, StripeStreamDefinition
from sync_platform.sources.stripe.client import StripeApiClient

PAGE_SIZE = 100


def lists_to_complete(definition: StripeStreamDefinition, obj: dict[str, Any]) -> list[NestedListDefinition]:
    """The nested lists of ``obj`` that Stripe cut short and that can be paged further."""
    wanted = []
    for nested in definition.nested_lists:
        value = obj.get(nested.field)
        if nested.list_path is not None and isinstance(value, dict) and value.get("has_more") is True:
            wanted.append(nested)
    return wanted


async def complete_list(
    client: StripeApiClient, nested: NestedListDefinition, obj: dict[str, Any], account: str | None
) -> None:
    """Page ``obj[nested.field]`` to its end and store every item in it (in place)."""
    embedded = obj[nested.field]
    request = nested.request_for(str(obj["id"]))
    if request is None:  # pragma: no cover - lists_to_complete only passes lists with a path
        return
    path, query = request
    items: list[Any] = list(embedded.get("data") or [])
    has_more = True
    while has_more:
        params: dict[str, Any] = {**query, "limit": PAGE_SIZE}
        if items:
            params["starting_after"] = items[-1]["id"]
        page = (await client.get(path, params, account=account)).data
        data = page.get("data") or []
        items.extend(data)
        has_more = bool(page.get("has_more")) and bool(data)
    obj[nested.field] = {**embedded, "data": items, "has_more": False}


async def complete_nested_lists(
    client: StripeApiClient,
    definition: StripeStreamDefinition,
    objects: list[dict[str, Any]],
    account: str | None,
) -> None:
    """Complete every cut-short list of every object, concurrently (the client bounds the requests).

    The first failure cancels the other fetches and is raised as it is (not as a group).
    """
    work = [(nested, obj) for obj in objects for nested in lists_to_complete(definition, obj)]
    if not work:
        return
    try:
        async with asyncio.TaskGroup() as group:
            for nested, obj in work:
                group.create_task(complete_list(client, nested, obj, account))
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
