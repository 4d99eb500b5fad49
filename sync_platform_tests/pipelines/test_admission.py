"""What the store refuses before it writes: streams the source lacks, no streams, configs the connector
itself would refuse. Every entry point stores through the store, so these hold for all of them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync_platform.engine import ConnectorRegistry, UnknownStreamError, default_registry
from sync_platform.errors import ConfigError
from sync_platform.pipelines import Pipeline, PipelineCreate, PipelineStore, PipelineUpdate
from sync_platform_tests.plugins.pipelines import SecretiveSource

STRIPE = {"type": "stripe", "stripe": {"api_key": {"env": "STRIPE_API_KEY"}}}
POSTGRES = {"type": "postgres", "postgres": {"url": {"env": "DEST_URL"}, "schema": "shop"}}
SECRETIVE_WIDGETS = {
    "type": "secretive",
    "secretive": {"api_key": {"env": "STRIPE_API_KEY"}, "streams": {"widget": 3}},
}


@pytest.fixture
def connector_registry() -> ConnectorRegistry:
    """The real connectors (whose offline hooks are under test), plus one source without hooks."""
    registry = default_registry(include_entry_points=False)
    registry.register_source("secretive", SecretiveSource)
    return registry


def request(**fields: Any) -> PipelineCreate:
    return PipelineCreate.model_validate({"id": "shop", "source": STRIPE, "destination": POSTGRES, **fields})


def nothing_stored(store: PipelineStore) -> bool:
    return store.list_pipelines(include_deleted=True) == []


def test_an_unknown_stream_is_refused_at_create_with_the_closest_name(pipeline_store: PipelineStore) -> None:
    expected = r"Stream 'customr' is not in the catalog of source 'stripe'\. Did you mean 'customer'\?"
    with pytest.raises(UnknownStreamError, match=expected) as refused:
        pipeline_store.create(request(streams=["customr", "invoice"]))

    assert "`sync-platform streams --source stripe` lists the streams" in str(refused.value)
    assert nothing_stored(pipeline_store)


def test_an_unknown_stream_is_refused_at_update_and_the_stored_selection_stays(
    pipeline_store: PipelineStore,
) -> None:
    created = pipeline_store.create(request(streams=["customer"]))

    with pytest.raises(UnknownStreamError, match="Did you mean 'invoice'"):
        pipeline_store.update("shop", PipelineUpdate.model_validate({"streams": ["customer", "invoce"]}))

    assert pipeline_store.get("shop") == created


def test_an_empty_stream_list_is_refused_at_create(pipeline_store: PipelineStore) -> None:
    with pytest.raises(ConfigError, match="`streams` is an empty list, so it would sync nothing") as refused:
        pipeline_store.create(request(streams=[]))

    assert refused.value.field == "streams"
    assert nothing_stored(pipeline_store)


def test_an_empty_stream_list_is_refused_at_update(pipeline_store: PipelineStore) -> None:
    created = pipeline_store.create(request(streams=["customer"]))

    with pytest.raises(ConfigError, match="leave `streams` out to sync every stream"):
        pipeline_store.update("shop", PipelineUpdate.model_validate({"streams": []}))

    assert pipeline_store.get("shop") == created


def test_no_stream_list_still_means_every_stream(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(request(streams=["customer"]))

    assert pipeline_store.update("shop", PipelineUpdate.model_validate({"streams": None})).streams is None


def test_a_new_source_must_have_the_streams_the_pipeline_keeps(pipeline_store: PipelineStore) -> None:
    """``widget`` is a stream of the secretive source; switching to Stripe would leave it unsyncable."""
    created = pipeline_store.create(request(source=SECRETIVE_WIDGETS, streams=["widget"]))

    with pytest.raises(UnknownStreamError, match="Stream 'widget' is not in the catalog of source 'stripe'"):
        pipeline_store.update("shop", PipelineUpdate.model_validate({"source": STRIPE}))

    assert pipeline_store.get("shop") == created


def test_a_source_without_an_offline_catalog_has_its_streams_checked_when_it_runs(
    pipeline_store: PipelineStore,
) -> None:
    """The secretive source's streams come from its config, so only ``discover`` can tell."""
    created = pipeline_store.create(request(source=SECRETIVE_WIDGETS, streams=["gadget"]))

    assert created.streams is not None
    assert [stream.name for stream in created.streams] == ["gadget"]


@pytest.mark.parametrize(
    ("postgres", "message"),
    [
        pytest.param(
            {"url": {"env": "DEST_URL"}, "schema": "é" * 32},  # 32 characters, 64 bytes
            r"Invalid postgres destination config at 'schema': must be at most 63 bytes",
            id="schema-over-63-bytes",
        ),
        pytest.param(
            {"schema": "shop"},
            r"The postgres destination needs a server: set `url` .* or `host`",
            id="neither-url-nor-host",
        ),
        pytest.param(
            {"url": {"env": "DEST_URL"}, "schema": "pg_catalog"},
            r"`schema` 'pg_catalog' is one of PostgreSQL's own schemas",
            id="system-schema",
        ),
        pytest.param(
            {"url": "mysql://app@db/shop"},
            r"`url` is not a valid libpq URI",
            id="plaintext-url-libpq-cannot-parse",
        ),
    ],
)
def test_a_postgres_config_the_destination_would_refuse_is_not_stored(
    pipeline_store: PipelineStore, postgres: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        pipeline_store.create(request(destination={"type": "postgres", "postgres": postgres}))

    assert nothing_stored(pipeline_store)


def test_an_update_to_an_over_long_schema_is_refused(pipeline_store: PipelineStore) -> None:
    created = pipeline_store.create(request())
    longer = {"type": "postgres", "postgres": {"url": {"env": "DEST_URL"}, "schema": "s" * 64}}

    with pytest.raises(ConfigError, match="at 'schema': must be at most 63 bytes"):
        pipeline_store.update("shop", PipelineUpdate.model_validate({"destination": longer}))

    assert pipeline_store.get("shop") == created


def test_a_secret_held_by_reference_is_not_judged_by_what_stands_in_for_it(
    pipeline_store: PipelineStore,
) -> None:
    """``DEST_URL`` is not set where the pipeline is stored, only where it runs."""
    created: Pipeline = pipeline_store.create(request())

    assert created.destination.config["url"] == {"env": "DEST_URL"}
    assert created.source.config["api_key"] == {"env": "STRIPE_API_KEY"}


def test_a_sheets_destination_aimed_at_a_remote_api_is_refused(pipeline_store: PipelineStore) -> None:
    key_file = {
        "type": "service_account",
        "client_email": "sync@example.iam.gserviceaccount.com",
        "private_key": "not-a-real-key",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    sheets = {"service_account_json": json.dumps(key_file), "api_base_url": "https://sheets.example.com"}

    with pytest.raises(ConfigError, match="must be a loopback URL"):
        pipeline_store.create(request(destination={"type": "google_sheets", "google_sheets": sheets}))

    assert nothing_stored(pipeline_store)
