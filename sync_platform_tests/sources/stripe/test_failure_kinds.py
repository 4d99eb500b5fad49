"""Every failure the source reports says its kind, from Stripe's status and error type (never its text).

The pipeline runner parks a pipeline on a kind retrying cannot fix (auth, permission,
invalid_request, not_found) and retries the others, so each kind is checked on the message the
runner reads: ``connection_status: failed``, ``stream_status: error``, ``check``'s payload, or the
exception setup raises.
"""

from __future__ import annotations

import asyncio
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.errors import FailureKind, failure_kind_of
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    ConnectionStatus,
    Message,
    SourceState,
    Stream,
    StreamError,
    SyncMode,
    to_unix,
)
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.errors import (
    MalformedEventError,
    StripeApiError,
    StripeAuthError,
    StripeUnavailableError,
    stripe_failure_kind,
)
from sync_platform.sources.stripe.webhook_signature import RejectionReason, WebhookVerificationError
from sync_platform_tests.sources.stripe.conftest import catalog_for, pushed, read, source_config, statuses

RATE_LIMITED_RETRIES = 20  # RetryPolicy.max_rate_limited_retries: 429s get a larger allowance


def known_account(emulator: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    """A config that needs no account lookup, so scripted failures hit only the listed path."""
    settings = {"account_id": emulator.account_id, "account_created": 1_700_000_000, "max_retries": 1}
    return source_config(emulator, **{**settings, **overrides})


def stream_errors(messages: list[Message], stream: str) -> list[StreamError]:
    return [
        m.stream_status
        for m in messages
        if m.type == "stream_status"
        and m.stream_status.stream == stream
        and isinstance(m.stream_status, StreamError)
    ]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (
            ScriptedFailure(path="/v1/customers", status=400, message="Invalid limit: must be at most 100"),
            "invalid_request",
        ),
        (
            ScriptedFailure(
                path="/v1/customers", status=404, message="Unrecognized request URL (GET: /v1/x)."
            ),
            "not_found",
        ),
        (
            ScriptedFailure(path="/v1/customers", status=500, times=2),
            "transient",
        ),  # max_retries=1: 2 attempts
        (ScriptedFailure(path="/v1/customers", status=503, times=2), "transient"),
        (ScriptedFailure(path="/v1/customers", status=429, times=RATE_LIMITED_RETRIES + 1), "rate_limited"),
        (
            ScriptedFailure(path="/v1/customers", status=409, message="Lock timeout", should_retry=False),
            "transient",
        ),
    ],
    ids=["400", "404", "500-past-retries", "503-past-retries", "429-past-retries", "409"],
)
def test_a_failed_list_request_fails_its_stream_with_the_kind_of_the_answer(
    source: StripeSource, stripe_emulator: RunningEmulator, failure: ScriptedFailure, kind: str
) -> None:
    stripe_emulator.set_faults(scripted=[failure])
    messages = read(source, known_account(stripe_emulator), catalog_for(["customer", "coupon"]))
    [error] = stream_errors(messages, "customer")
    assert error.failure_kind == kind
    assert f"HTTP {failure.status}" in error.error
    if failure.message:
        assert failure.message in error.error
    assert statuses(messages, "coupon")[-1] == "complete"  # the kind does not spread to other streams


def test_a_key_revoked_mid_read_fails_the_connection_as_auth_without_the_key(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(
        scripted=[ScriptedFailure(path="/v1/customers", status=401, message="Expired API Key provided")]
    )
    messages = read(source, known_account(stripe_emulator), catalog_for(["customer"]))
    status = messages[-1].connection_status  # type: ignore[union-attr]
    assert (status.status, status.failure_kind) == (ConnectionStatus.FAILED, FailureKind.AUTH)
    assert "Expired API Key provided" in (status.message or "")
    assert stripe_emulator.secret_key not in (status.message or "")


def test_a_refused_key_fails_the_connection_as_auth_quoting_stripe_but_not_the_key(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    key = "sk_test_" + "r" * 24
    messages = read(source, source_config(stripe_emulator, api_key=key), catalog_for(["customer"]))
    [message] = messages
    status = message.connection_status  # type: ignore[union-attr]
    assert (status.status, status.failure_kind) == (ConnectionStatus.FAILED, FailureKind.AUTH)
    assert "Invalid API Key provided" in (status.message or "")  # Stripe's own text
    assert "rrrrrrrr" not in (status.message or "")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, "transient"), (404, "not_found"), (403, "permission"), (400, "invalid_request")],
)
def test_an_account_lookup_that_fails_fails_the_connection_with_its_kind(
    source: StripeSource, stripe_emulator: RunningEmulator, status: int, kind: str
) -> None:
    """Without ``account_id`` the read must look the account up; nothing else can start."""
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/account", status=status, times=10)])
    messages = read(source, source_config(stripe_emulator, max_retries=1), catalog_for(["customer"]))
    [message] = messages
    assert message.connection_status.failure_kind == kind  # type: ignore[union-attr]


def test_no_answer_at_all_is_transient(source: StripeSource, stripe_emulator: RunningEmulator) -> None:
    stripe_emulator.set_faults(latency_ms=1_000)
    config = known_account(stripe_emulator, request_timeout=0.05, max_retries=0)
    [error] = stream_errors(read(source, config, catalog_for(["customer"])), "customer")
    assert error.failure_kind == FailureKind.TRANSIENT
    assert "no response" in error.error


def test_a_stream_skipped_for_want_of_permission_is_still_a_skip(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=403)])
    messages = read(source, known_account(stripe_emulator), catalog_for(["customer"]))
    assert statuses(messages, "customer") == ["start", "skip"]


def test_a_failed_events_poll_fails_each_stream_with_the_kind(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/events", status=400, times=10)])
    cursor = to_unix(datetime.now(UTC)) - 60
    state = SourceState.model_validate({"global": {"events_cursor": cursor}})
    catalog = catalog_for(["customer", "invoice"], mode=SyncMode.INCREMENTAL)
    messages = read(source, known_account(stripe_emulator), catalog, state)
    for stream in ("customer", "invoice"):
        [error] = stream_errors(messages, stream)
        assert error.failure_kind == FailureKind.INVALID_REQUEST
        assert error.error.startswith("Polling events failed")


def test_a_stream_the_catalog_does_not_know_is_a_config_error(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    catalog = ConfiguredCatalog(
        streams=[ConfiguredStream(stream=Stream(name="custmer", primary_key=[["id"]]))]
    )
    [error] = stream_errors(read(source, source_config(stripe_emulator), catalog), "custmer")
    assert error.failure_kind == FailureKind.CONFIG


def test_a_pushed_input_that_is_not_an_event_fails_the_read_as_invalid_request(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    """Raised out of ``read``, so the engine puts ``failure_kind_of`` the exception on the eof."""
    config = known_account(stripe_emulator)
    with pytest.raises(MalformedEventError) as caught:
        read(source, config, catalog_for(["customer"]), input=pushed({"unexpected": True}))
    assert failure_kind_of(caught.value) == FailureKind.INVALID_REQUEST


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "auth"),
        (403, "permission"),
        (404, "not_found"),
        (400, "invalid_request"),
        (500, "transient"),
        (429, "rate_limited"),
    ],
)
def test_check_reports_the_kind_of_a_failed_account_lookup(
    source: StripeSource, stripe_emulator: RunningEmulator, status: int, kind: str
) -> None:
    stripe_emulator.set_faults(
        scripted=[ScriptedFailure(path="/v1/account", status=status, times=RATE_LIMITED_RETRIES + 1)]
    )
    result = asyncio.run(source.check(source_config(stripe_emulator, max_retries=1)))
    assert (result.status, result.failure_kind) == (ConnectionStatus.FAILED, kind)


def test_check_with_a_refused_key_is_auth(source: StripeSource, stripe_emulator: RunningEmulator) -> None:
    result = asyncio.run(source.check(source_config(stripe_emulator, api_key="sk_test_" + "q" * 24)))
    assert (result.status, result.failure_kind) == (ConnectionStatus.FAILED, FailureKind.AUTH)


async def _setup(source: StripeSource, config: dict[str, Any]) -> list[Message]:
    return [message async for message in source.setup(config, ConfiguredCatalog(streams=[]))]


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (401, StripeAuthError, "auth"),
        (403, StripeUnavailableError, "permission"),
        (400, StripeApiError, "invalid_request"),
        (500, StripeApiError, "transient"),
    ],
)
def test_setup_raises_webhook_endpoint_failures_with_their_kind(
    source: StripeSource, stripe_emulator: RunningEmulator, status: int, error_type: type, kind: str
) -> None:
    stripe_emulator.set_faults(
        scripted=[ScriptedFailure(path="/v1/webhook_endpoints", method="POST", status=status, times=10)]
    )
    config = known_account(stripe_emulator, webhook_url="https://hooks.example.com/stripe")
    with pytest.raises(error_type) as caught:
        asyncio.run(_setup(source, config))
    assert caught.value.failure_kind == kind
    assert failure_kind_of(caught.value) == kind
    assert stripe_emulator.secret_key not in str(caught.value)


def test_the_kind_survives_pickling_across_processes() -> None:
    error = StripeApiError("Not found", method="get", path="/v1/customers/cus_1", status=404)
    assert pickle.loads(pickle.dumps(error)).failure_kind == FailureKind.NOT_FOUND


@pytest.mark.parametrize(
    ("status", "error_type", "code", "kind"),
    [
        (None, None, None, "transient"),
        (400, "invalid_request_error", None, "invalid_request"),
        (400, "invalid_request_error", "rate_limit", "rate_limited"),
        (401, "invalid_request_error", None, "auth"),  # real Stripe types a refused key this way
        (402, "card_error", None, "invalid_request"),
        (403, "invalid_request_error", None, "permission"),
        (404, "invalid_request_error", "resource_missing", "not_found"),
        (409, "invalid_request_error", "lock_timeout", "transient"),
        (429, None, "rate_limit", "rate_limited"),
        (502, "api_error", None, "transient"),
    ],
)
def test_stripe_failure_kind_reads_status_type_and_code(
    status: int | None, error_type: str | None, code: str | None, kind: str
) -> None:
    assert stripe_failure_kind(status, error_type, code) == kind


def test_a_webhook_that_fails_verification_is_invalid_unless_no_secret_is_configured() -> None:
    forged = WebhookVerificationError(RejectionReason.BAD_SIGNATURE, "bad signature")
    unconfigured = WebhookVerificationError(RejectionReason.NO_SECRET, "no secret")
    assert (forged.failure_kind, unconfigured.failure_kind) == (
        FailureKind.INVALID_REQUEST,
        FailureKind.CONFIG,
    )
