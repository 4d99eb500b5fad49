"""A Stripe event as records: the object it carries, or a tombstone when the object is gone.

Shared by pushed webhooks and the events poll. The stream is the one of ``data.object.object``
(``checkout.session`` -> ``checkout_session``), and an event of a stream the pipeline does not
sync yields nothing. ``_updated_at`` is the object's ``updated`` where it has one, else the
event's ``created`` plus half a second, so the destination keeps the newer of an event and a
backfilled page. The half second settles the one ambiguous case: a page listed in the same second
as the event (both carry whole seconds) may or may not already include the change, and applying
the event is right either way (it is the change, or the same state again), whereas keeping the
page could lose the change for good.

A tombstone (``recordDeleted``) is sent for an object that says ``deleted: true`` and for every
deleting event type the catalog knows (``customer.deleted``, ``invoiceitem.deleted``,
``customer.tax_id.deleted``...: every ``*.deleted`` of an object type Stripe really deletes), not
only the reference's seven (reference bug #11). ``customer.subscription.deleted`` reports a
cancellation, so the canceled subscription is upserted. ``_account_id`` is the event's
``account`` for Connect events, else the platform account.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from sync_platform.protocol import RecordMessage, record
from sync_platform.sources.stripe.catalog import StripeStreamDefinition, stream_for_object
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.json_schema import ACCOUNT_ID_FIELD, UPDATED_AT_FIELD
from sync_platform.sources.stripe.nested_lists import complete_nested_lists

# Events order after a backfilled page of the same second (see the module docstring).
SAME_SECOND_EVENT_LEAD = 0.5


ObjectKey = tuple[str, str, str]  # (stream, _account_id, id): one object in the destination


@dataclass(frozen=True)
class EventRecord:
    """One record an event yields, and the account header to complete its nested lists with.

    ``second`` is the whole second the version is stamped from (the object's ``updated``, else the
    event's ``created``); ``digest`` identifies the event's object, so two snapshots of one second
    can be told equal or different without comparing them whole.
    """

    definition: StripeStreamDefinition
    data: dict[str, Any]
    deleted: bool
    stripe_account: str | None
    second: int = 0
    digest: str = ""

    @property
    def key(self) -> ObjectKey:
        return (self.definition.name, str(self.data[ACCOUNT_ID_FIELD]), str(self.data["id"]))

    def message(self) -> RecordMessage:
        return record(self.definition.name, self.data, deleted=self.deleted)


def object_digest(obj: Mapping[str, Any]) -> str:
    """A short, stable digest of an object's JSON (keys sorted)."""
    encoded = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def _unix(value: object) -> int | None:
    """A unix time given as a JSON number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def event_records(
    event: Mapping[str, Any], *, selected: Collection[str], platform_account: str
) -> list[EventRecord]:
    """The records ``event`` yields for the ``selected`` streams (a new dict: the event is not changed)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping) or not isinstance(obj.get("id"), str):
        return []  # no object, or a preview without an id (invoice.upcoming)
    definition = stream_for_object(str(obj.get("object")))
    if definition is None or definition.name not in selected:
        return []
    updated = _unix(obj.get("updated"))
    second = updated if updated is not None else (_unix(event.get("created")) or 0)
    updated_at: float = updated if updated is not None else second + SAME_SECOND_EVENT_LEAD
    account = event.get("account")
    connect_account = account if isinstance(account, str) and account else None
    deleted = obj.get("deleted") is True or event.get("type") in definition.deletion_event_types
    record_data = {
        **obj,
        UPDATED_AT_FIELD: updated_at,
        ACCOUNT_ID_FIELD: connect_account or platform_account,
    }
    return [EventRecord(definition, record_data, deleted, connect_account, second, object_digest(obj))]


async def complete_event_records(client: StripeApiClient, records: list[EventRecord]) -> None:
    """Fetch the rest of any nested list an event's object carries cut short (not for tombstones)."""
    for item in records:
        if not item.deleted:
            await complete_nested_lists(client, item.definition, [item.data], item.stripe_account)
