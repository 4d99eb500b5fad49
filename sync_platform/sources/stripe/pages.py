"""One page of a stream's list for one range: the request, and the records it yields.

A stream that filters by ``created`` sends the range as ``created[gte]``/``created[lt]``; one that
cannot is listed whole, newest first, and the range is applied here: objects outside it are
dropped, and the listing stops once a page (in newest-first order) reaches below the range, so a
later run reads only what was created since the last one rather than the whole collection
(reference bug #13). That early stop is taken only when the page really is in descending
``created`` order; an object type without ``created`` is listed whole every time.

Each record gets ``_account_id`` and ``_updated_at``: the object's ``updated`` where it has one,
else the time Stripe produced the page (its ``Date`` header), so a webhook event newer than the
page wins in the destination and an older one loses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sync_platform.sources.stripe.catalog import StripeStreamDefinition
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.json_schema import ACCOUNT_ID_FIELD, UPDATED_AT_FIELD
from sync_platform.sources.stripe.nested_lists import complete_nested_lists
from sync_platform.sources.stripe.subdivision import Page, Range

PAGE_SIZE = 100


@dataclass(frozen=True)
class FetchedPage:
    """The records of one page (stamped, nested lists complete) and its summary for subdivision."""

    objects: list[dict[str, Any]]
    page: Page


def list_params(definition: StripeStreamDefinition, part: Range) -> dict[str, Any]:
    """The query of the next page of ``part``: only parameters this list accepts."""
    params: dict[str, Any] = dict(definition.list_defaults)
    if definition.supports_limit:
        params["limit"] = PAGE_SIZE
    if definition.supports_created_filter:
        params["created"] = {"gte": part.gte, "lt": part.lt}
    if part.cursor is not None and definition.supports_pagination:
        params["starting_after"] = part.cursor
    return params


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _created(obj: dict[str, Any]) -> int | None:
    value = obj.get("created")
    return value if _is_int(value) else None


def summarize(objects: list[dict[str, Any]], has_more: bool) -> Page:
    """The page as subdivision sees it. The oldest time is the last object's, the one the cursor
    points at, so the rest of the range ends exactly above the cursor's second (in Stripe's order
    it is also the smallest)."""
    return Page(
        count=len(objects),
        has_more=has_more,
        last_id=str(objects[-1]["id"]) if objects else None,
        oldest_created=_created(objects[-1]) if objects else None,
    )


def _in_range_client_side(
    objects: list[dict[str, Any]], part: Range, has_more: bool
) -> tuple[list[dict[str, Any]], bool]:
    """Objects of ``part`` from an unfiltered page, and whether listing should go on."""
    created: list[int] = []
    for obj in objects:
        value = _created(obj)
        if value is None:
            return objects, has_more  # no creation times: the range cannot be applied
        created.append(value)
    kept = [obj for obj, value in zip(objects, created, strict=True) if part.gte <= value < part.lt]
    descending = all(newer >= older for newer, older in itertools.pairwise(created))
    if has_more and descending and created and created[-1] < part.gte:
        has_more = False  # everything after this page is older than the range
    return kept, has_more


async def fetch_page(
    client: StripeApiClient,
    definition: StripeStreamDefinition,
    part: Range,
    *,
    account_id: str,
    stripe_account: str | None,
    urgent: bool = False,
) -> FetchedPage:
    """Fetch the next page of ``part`` for one account and turn it into records."""
    params = list_params(definition, part)
    response = await client.get(definition.list_path, params, account=stripe_account, urgent=urgent)
    body = response.data
    objects: list[dict[str, Any]] = list(body.get("data") or [])
    has_more = bool(body.get("has_more")) and definition.supports_pagination
    page = summarize(objects, has_more)
    if not definition.supports_created_filter:
        objects, has_more = _in_range_client_side(objects, part, has_more)
        page = Page(page.count, has_more, page.last_id, page.oldest_created)
    await complete_nested_lists(client, definition, objects, stripe_account)
    listed_at = int(response.received_at.timestamp())
    for obj in objects:
        updated = obj.get("updated")
        obj[ACCOUNT_ID_FIELD] = account_id
        obj[UPDATED_AT_FIELD] = updated if _is_int(updated) else listed_at
    return FetchedPage(objects, page)
