"""Stripe-compatible servers that accept less than Stripe: no ``created`` filters on lists, no
``types[]`` on ``/v1/events``, no ``/v1/account``. The source does without, once, and remembers."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.errors import FailureKind
from sync_platform.protocol import (
    ConnectionStatus,
    Message,
    OpenTimeRange,
    SourceState,
    SyncMode,
    from_unix,
    to_unix,
)
from sync_platform.sources.stripe import StripeSource, stream_by_name
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.backfill_plan import plan_stream
from sync_platform.sources.stripe.backfill_state import STREAM_STATE_SCHEMA
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    fold_state,
    global_states,
    ids,
    list_calls,
    live_ids,
    read,
    records,
    source_config,
    statuses,
    stream_states,
)

BACKFILLED = ["customer", "invoice", "subscription"]


def warnings(messages: list[Message], text: str) -> list[str]:
    return [
        m.log.message for m in messages if m.type == "log" and m.log.level == "warn" and text in m.log.message
    ]


def test_a_list_that_refuses_created_filters_is_read_by_cursor_and_the_refusal_is_remembered(
    source: StripeSource, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = stripe_emulator_factory(
        objects=0, counts={"customer": 250, "invoice": 120, "subscription": 30}
    )
    emulator.set_faults(refuse_created_filter=True)
    config = source_config(emulator, max_concurrency=4)
    messages = read(source, config, catalog_for(BACKFILLED))
    for name in BACKFILLED:
        assert Counter(ids(messages, name)) == Counter(live_ids(emulator, name))  # each exactly once
        assert statuses(messages, name)[-1] == "complete"
        path = stream_by_name(name).list_path
        calls = list_calls(emulator, path)
        assert [call.status for call in calls if "created" in call.params] == [400]  # asked once
        assert all(call.status == 200 for call in calls if "created" not in call.params)
        assert len(warnings(messages, f"on {path} ")) == 1  # said once
        final = stream_states(messages, name)[-1]
        assert final["created_filter_refused"] is True
        assert final["remaining"] == []
        assert final["listed"] == len(live_ids(emulator, name))

    # The next run lists without the filter from its first request, only the new time.
    lt = to_unix(datetime.fromisoformat(final["accounted_range"]["lt"]))
    new = emulator.create("customer", {"created": lt + 5}).object["id"]
    emulator.requests.clear()
    later = catalog_for(BACKFILLED, time_range=OpenTimeRange(lt=from_unix(lt + 60)))
    again = read(source, config, later, fold_state(messages))
    assert ids(again, "customer") == [new]
    assert ids(again, "invoice") == ids(again, "subscription") == []
    assert all(call.status == 200 and "created" not in call.params for call in emulator.requests.entries())
    assert warnings(again, "refuses `created`") == []
    assert stream_states(again, "customer")[-1]["created_filter_refused"] is True


def test_a_checkpoint_without_the_refusal_is_still_a_checkpoint_and_plans_the_filter() -> None:
    old = {
        "accounted_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"},
        "remaining": [{"gte": "2024-01-01T00:00:00Z", "lt": "2024-01-15T00:00:00Z", "cursor": "cus_1"}],
        "listed": 10,
    }
    jsonschema.validate(old, STREAM_STATE_SCHEMA)
    jsonschema.validate({**old, "created_filter_refused": True}, STREAM_STATE_SCHEMA)
    account = [StripeAccount("acct_1", 1_704_067_200, None)]  # created 2024-01-01
    configured = catalog_for(["customer"]).streams[0]
    plan, warned = plan_stream(
        stream_by_name("customer"), configured, old, account, now=1_706_745_600, backfill_limit=None
    )
    assert warned == []
    assert plan.definition.supports_created_filter
    assert plan.checkpoint() == old  # the same checkpoint, key for key
    refused, _ = plan_stream(
        stream_by_name("customer"),
        configured,
        {**old, "created_filter_refused": True},
        account,
        now=1_706_745_600,
        backfill_limit=None,
        restart=True,  # a re-backfill starts over, and still knows
    )
    assert not refused.definition.supports_created_filter
    assert refused.checkpoint()["created_filter_refused"] is True


def _now() -> int:
    return to_unix(datetime.now(UTC))


def test_events_without_types_filter_are_filtered_here_and_the_refusal_is_remembered_for_the_read(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(refuse_event_types_filter=True)
    customer, invoice = stripe_emulator.objects("customer")[0], stripe_emulator.objects("invoice")[0]
    changed = [
        stripe_emulator.update("customer", customer["id"], {"name": "renamed"}).event,
        stripe_emulator.create("coupon").event,  # not selected: dropped here
        stripe_emulator.update("invoice", invoice["id"], {"description": "x"}).event,
    ]
    names = ["customer", "invoice", "charge", "subscription", "payment_intent", "checkout_session"]
    state = SourceState.model_validate({"global": {"events_cursor": _now() - 3 * 86_400}})  # several windows
    messages = read(
        source, source_config(stripe_emulator), catalog_for(names, mode=SyncMode.INCREMENTAL), state
    )
    assert [data["id"] for data in records(messages)] == [customer["id"], invoice["id"]]
    calls = list_calls(stripe_emulator, "/v1/events")
    assert [call.status for call in calls if "types" in call.params] == [400]  # asked once
    assert len(calls) > 3  # more windows followed, all without types
    assert all(call.status == 200 for call in calls if "types" not in call.params)
    assert len(warnings(messages, "`types[]`")) == 1
    assert global_states(messages)[-1]["events_cursor"] >= changed[-1]["created"]
    assert all(statuses(messages, name) == ["start", "complete"] for name in names)


def _check(source: StripeSource, emulator: RunningEmulator, **config: Any) -> Any:
    return asyncio.run(source.check(source_config(emulator, **config)))


def test_check_with_a_configured_account_proves_the_key_without_the_account_lookup(
    source: StripeSource, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = stripe_emulator_factory(objects=20, connected_accounts=1)
    (connected,) = emulator.connected_account_ids
    no_account = ScriptedFailure(path="/v1/account", status=404, times=100)  # a server without it
    emulator.set_faults(scripted=[no_account])
    configured = {"account_id": emulator.account_id, "connected_accounts": [connected]}
    result = _check(source, emulator, **configured)
    assert result.status is ConnectionStatus.SUCCEEDED
    assert [(call.path, call.query, call.account) for call in emulator.requests.entries()] == [
        ("/v1/events", "limit=1", None),
        ("/v1/events", "limit=1", connected),
    ]
    refused = _check(source, emulator, api_key="sk_test_" + "z" * 24, **configured)
    assert (refused.status, refused.failure_kind) == (ConnectionStatus.FAILED, FailureKind.AUTH)
    assert "api_key" in (refused.message or "")
    unreachable = _check(
        source, emulator, account_id=emulator.account_id, connected_accounts=["acct_notmine"]
    )
    assert unreachable.status is ConnectionStatus.FAILED
    assert "acct_notmine" in (unreachable.message or "")
    # Without account_id the lookup is still what check proves (the read will make it).
    emulator.set_faults()
    emulator.requests.clear()
    assert _check(source, emulator).status is ConnectionStatus.SUCCEEDED
    assert [call.path for call in emulator.requests.entries()] == ["/v1/account"]
