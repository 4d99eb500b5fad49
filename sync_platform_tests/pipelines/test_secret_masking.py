"""No secret appears in any output: reprs, dumps, JSON, errors, logs, or the database at rest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pydantic
import pytest

from sync_platform.errors import ConfigError, FailureKind
from sync_platform.pipelines import (
    PipelineCreate,
    PipelineError,
    PipelineStatus,
    PipelineStore,
    PipelineUpdate,
)
from sync_platform.protocol import source_config_control
from sync_platform_tests.plugins.pipelines import DB_PASSWORD, STRIPE_KEY, WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase

SECRETS = (STRIPE_KEY, WEBHOOK_SECRET, DB_PASSWORD)


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert "NeverPrinted" not in text  # no partial leak of the distinctive part either


def request() -> PipelineCreate:
    return PipelineCreate.model_validate(
        {
            "id": "stripe-sync",
            "source": {
                "type": "secretive",
                "secretive": {
                    "api_key": STRIPE_KEY,
                    "webhook_secret": [WEBHOOK_SECRET],
                    "credentials": {"password": DB_PASSWORD},
                },
            },
            "destination": {"type": "null"},
        }
    )


def test_requests_hide_plaintext_secrets_in_repr_and_validation_errors() -> None:
    assert_clean(repr(request()))
    assert_clean(str(request()))

    with pytest.raises(pydantic.ValidationError) as raised:
        PipelineCreate.model_validate(
            {
                "id": "Not Valid",
                "source": {
                    "type": "secretive",
                    "secretive": {"api_key": STRIPE_KEY},
                    "oops": {"k": DB_PASSWORD},
                },
                "destination": {"type": "null"},
            }
        )
    assert_clean(str(raised.value))
    assert "unexpected key(s) 'oops'" in str(raised.value)


def test_a_stored_pipeline_never_shows_a_secret_or_a_token(pipeline_store: PipelineStore) -> None:
    pipeline = pipeline_store.create(request())
    token = pipeline.source.config["credentials"]["password"]["encrypted"]

    outputs = [repr(pipeline), str(pipeline), pipeline.model_dump_json(), str(pipeline.masked())]
    for output in outputs:
        assert_clean(output)
        assert token not in output
    shown = pipeline.masked()["source"]["secretive"]
    assert shown["api_key"] == "***"
    assert shown["webhook_secret"] == ["***"]
    assert shown["credentials"] == {"user": "app", "password": "***"}


def test_env_references_are_shown_as_they_are(pipeline_store: PipelineStore) -> None:
    pipeline = pipeline_store.create(
        PipelineCreate.model_validate(
            {
                "source": {"type": "secretive", "secretive": {"api_key": {"env": "STRIPE_API_KEY"}}},
                "destination": {"type": "null"},
            }
        )
    )
    assert pipeline.masked()["source"]["secretive"]["api_key"] == {"env": "STRIPE_API_KEY"}


def test_the_revealed_run_config_prints_no_secret(pipeline_store: PipelineStore) -> None:
    revealed = pipeline_store.resolve_secrets(pipeline_store.create(request()))

    assert revealed.source.config["api_key"] == STRIPE_KEY  # usable by the engine...
    for output in (repr(revealed), str(revealed), repr(revealed.source), str(revealed.source)):
        assert_clean(output)  # ...but never printed
    assert "api_key" in repr(revealed.source)
    masked = pipeline_store.configs.masked_plaintext("source", revealed.source)
    assert_clean(str(masked))
    assert masked["secretive"]["api_key"] == "***"


def test_secrets_are_not_in_the_database_in_plaintext(
    pipeline_store: PipelineStore, pg: PgTestDatabase
) -> None:
    pipeline_store.create(request())
    pipeline_store.apply_control(
        "stripe-sync", source_config_control({"api_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SECRET})
    )

    with pg.connect() as connection:
        dumped = connection.execute(f'SELECT p::text FROM "{pg.schema}".pipelines p').fetchall()
    assert dumped
    assert_clean(str(dumped))


def test_config_errors_about_a_secret_do_not_quote_it(pipeline_store: PipelineStore) -> None:
    bad_key = "pk_live_" + "NeverPrinted_publishable"
    with pytest.raises(ConfigError) as raised:
        pipeline_store.create(
            PipelineCreate.model_validate(
                {
                    "source": {"type": "secretive", "secretive": {"api_key": bad_key}},
                    "destination": {"type": "null"},
                }
            )
        )
    assert bad_key not in str(raised.value)
    assert "at 'api_key'" in str(raised.value)


def test_error_messages_recorded_on_a_pipeline_are_redacted(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(request())
    failure = PipelineError(
        kind=FailureKind.AUTH,
        message=f"Invalid API Key provided: {STRIPE_KEY}; webhook {WEBHOOK_SECRET}",
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
    )

    failed = pipeline_store.set_status("stripe-sync", PipelineStatus.ERROR, failure)

    assert_clean(failed.model_dump_json())
    assert failed.error is not None
    assert failed.error.message.startswith("Invalid API Key provided: sk_test_***")


def test_a_password_in_a_url_field_is_masked_in_output(pipeline_store: PipelineStore) -> None:
    """A connector may forget to declare a field secret; the redaction net still catches URLs."""
    pipeline = pipeline_store.create(
        PipelineCreate.model_validate(
            {
                "source": {
                    "type": "secretive",
                    "secretive": {
                        "api_key": {"env": "STRIPE_API_KEY"},
                        "webhook_url": f"https://hook:{DB_PASSWORD}@example.com/in",
                    },
                },
                "destination": {"type": "null"},
            }
        )
    )
    assert_clean(pipeline.model_dump_json())


def test_no_log_line_carries_a_secret(
    pipeline_store: PipelineStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    created = pipeline_store.create(request())
    pipeline_store.update(
        "stripe-sync",
        PipelineUpdate.model_validate(
            {"source": {"type": "secretive", "secretive": {"api_key": STRIPE_KEY}}}
        ),
    )
    pipeline_store.apply_control("stripe-sync", source_config_control({"api_key": STRIPE_KEY}))
    pipeline_store.set_status("stripe-sync", PipelineStatus.BACKFILL)
    pipeline_store.resolve_secrets(created)
    pipeline_store.webhook_target("stripe-sync")

    assert caplog.records  # the store does log, just never a secret
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(str(record.__dict__))
