"""The real families end to end: Stripe (the emulator) -> PostgreSQL, materialized through Dagster."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from sync_platform.defs.definitions import build_definitions
from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
from sync_platform.defs.sensors.inbox import INBOX_SENSOR
from sync_platform.defs.sensors.lifecycle import LIFECYCLE_SENSOR
from sync_platform.defs.sensors.run_failures import RUN_FAILURE_SENSOR
from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG, Lane
from sync_platform.emulator import RunningEmulator
from sync_platform.errors import FailureKind
from sync_platform.pipelines import CheckpointLane, PipelineCreate, PipelineStatus, PipelineStore
from sync_platform.pipelines.runner import live_lanes
from sync_platform_tests.plugins.postgres import PgTestDatabase

STREAMS = ["customer", "invoice", "product"]


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(
        objects=0, counts={"customer": 230, "invoice": 120, "product": 40}, seed=11
    )


@pytest.fixture
def stack(
    pg: PgTestDatabase, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[PipelineStore, dict[str, Any], dg.DagsterInstance]]:
    monkeypatch.setenv("TEST_STRIPE_KEY", emulator.secret_key)
    monkeypatch.setenv("TEST_WAREHOUSE_URL", pg.url)
    resources = {
        "pipelines": PipelineResource(app_db=AppDatabaseResource(url=pg.url, store_schema=pg.schema)),
        "sync_engine": SyncEngineResource(),
    }
    with PipelineStore(pg.url, schema=pg.schema) as store, dg.instance_for_test() as instance:
        yield store, resources, instance


def create(store: PipelineStore, emulator: RunningEmulator, schema: str) -> str:
    store.create(
        PipelineCreate.model_validate(
            {
                "id": "shop",
                "source": {
                    "type": "stripe",
                    "stripe": {"api_key": {"env": "TEST_STRIPE_KEY"}, "base_url": emulator.base_url},
                },
                "destination": {
                    "type": "postgres",
                    "postgres": {"url": {"env": "TEST_WAREHOUSE_URL"}, "schema": f"{schema}_dest"},
                },
                "streams": STREAMS,
            }
        )
    )
    return "shop"


def ids_in(pg: PgTestDatabase, stream: str) -> set[str]:
    with psycopg.connect(pg.url) as connection:
        rows = connection.execute(
            sql.SQL("SELECT id FROM {}.{}").format(
                sql.Identifier(f"{pg.schema}_dest"), sql.Identifier(stream)
            )
        ).fetchall()
    return {row[0] for row in rows}


def test_a_stripe_pipeline_is_backfilled_into_postgres_through_the_lifecycle_sensor_and_its_run(
    pg: PgTestDatabase,
    emulator: RunningEmulator,
    stack: tuple[PipelineStore, dict[str, Any], dg.DagsterInstance],
) -> None:
    store, resources, instance = stack
    definitions = build_definitions(resources=resources)
    pipeline_id = create(store, emulator, pg.schema)
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), resources=resources, definitions=definitions
    ) as context:
        tick = definitions.resolve_sensor_def(LIFECYCLE_SENSOR).evaluate_tick(context)
    (add,) = tick.dynamic_partitions_requests
    assert (add.partitions_def_name, list(add.partition_keys)) == ("stripe_pipelines", [pipeline_id])
    instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    (request,) = tick.run_requests
    assert request.job_name == "stripe_sync_job"
    checks = {(k.asset_key.path[-1], k.name) for k in request.asset_check_keys or []}
    assert ("customer", "row_count_matches_source") in checks
    assert {name for _, name in checks} == {"row_count_matches_source"}  # not the hourly freshness

    result = definitions.resolve_job_def("stripe_sync_job").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=dict(request.tags), raise_on_error=False
    )

    assert result.success
    materialized = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert set(materialized) == set(STREAMS)
    for stream in STREAMS:
        expected = {obj["id"] for obj in emulator.objects(stream)}
        assert ids_in(pg, stream) == expected
        assert materialized[stream]["dagster/row_count"].value == len(expected)
        assert materialized[stream]["sync/records_read"].value == len(expected)
        assert materialized[stream]["dagster/table_name"].value == f"{pg.schema}_dest.{stream}"
        connect = materialized[stream]["sync/connect"].value
        assert connect.startswith('psql "')
        assert "password" not in connect
        assert str(materialized[stream]["sync/database"].value).startswith(
            psycopg.conninfo.conninfo_to_dict(pg.url)["dbname"]
        )
    checks = {e.asset_key.path[-1]: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(STREAMS, True)  # rows == objects the backfill listed
    assert store.get(pipeline_id).status is PipelineStatus.READY
    state = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert all(state["source"]["streams"][s]["remaining"] == [] for s in STREAMS)
    assert "events_cursor" in state["source"]["global"]


def test_a_live_run_that_drains_its_inbox_in_several_batches_applies_every_event(
    pg: PgTestDatabase,
    emulator: RunningEmulator,
    stack: tuple[PipelineStore, dict[str, Any], dg.DagsterInstance],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live run applies events that arrive while it runs in further batches of the same run.
    Each batch completes the streams it touched; the engine used to skip those streams in the
    run's next batch, so the events of every batch after the first were marked processed without
    reaching the destination (1 in 50 in the webhook latency benchmark)."""
    store, resources, instance = stack
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "whsec_live_batches_0123456789")
    store.create(
        PipelineCreate.model_validate(
            {
                "id": "shop",
                "source": {
                    "type": "stripe",
                    "stripe": {
                        "api_key": {"env": "TEST_STRIPE_KEY"},
                        "base_url": emulator.base_url,
                        "webhook_secret": {"env": "TEST_WEBHOOK_SECRET"},
                    },
                },
                "destination": {
                    "type": "postgres",
                    "postgres": {"url": {"env": "TEST_WAREHOUSE_URL"}, "schema": f"{pg.schema}_dest"},
                },
                "streams": STREAMS,
            }
        )
    )
    instance.add_dynamic_partitions("stripe_pipelines", ["shop"])
    job = build_definitions(resources=resources).resolve_job_def("stripe_sync_job")
    backfill = {PIPELINE_TAG: "shop", LANE_TAG: Lane.BACKFILL.value}
    assert job.execute_in_process(instance=instance, partition_key="shop", tags=backfill).success
    customers = [c["id"] for c in emulator.objects("customer")[:3]]
    for customer in customers:
        event = emulator.update("customer", customer, {"name": f"renamed {customer}"}).event
        assert store.insert_inbox_event("shop", event["id"], event["type"], event)
    monkeypatch.setattr(live_lanes, "LIVE_CLAIM_LIMIT", 1)  # one event per batch, as events trickle in

    definitions = build_definitions(resources=resources)
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), resources=resources, definitions=definitions
    ) as context:
        (request,) = definitions.resolve_sensor_def(INBOX_SENSOR).evaluate_tick(context).run_requests
    assert request.asset_check_keys == []  # only a backfill can evaluate the row-count check
    live_job = job.get_subset(
        asset_selection=set(request.asset_selection), asset_check_selection=set(request.asset_check_keys)
    )  # what the daemon runs for this request
    result = live_job.execute_in_process(instance=instance, partition_key="shop", tags=dict(request.tags))

    assert result.success
    planned = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION_PLANNED"]
    assert planned == []  # so no "skipped" check hides the backfill's result
    assert result.get_asset_check_evaluations() == []
    assert store.count_pending_inbox("shop") == 0
    with psycopg.connect(pg.url) as connection:
        names = dict(
            connection.execute(
                sql.SQL("SELECT id, _raw_data->>'name' FROM {}.customer WHERE id = ANY(%s)").format(
                    sql.Identifier(f"{pg.schema}_dest")
                ),
                (customers,),
            ).fetchall()
        )
    assert names == {customer: f"renamed {customer}" for customer in customers}
    versions = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "customer"]
    assert [e.partition for e in versions] == ["shop"] * 3  # one version per batch that wrote to it


def test_a_dagster_run_with_a_refused_key_parks_the_pipeline_and_no_further_run_is_launched(
    pg: PgTestDatabase,
    emulator: RunningEmulator,
    stack: tuple[PipelineStore, dict[str, Any], dg.DagsterInstance],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, resources, instance = stack
    definitions = build_definitions(resources=resources)
    pipeline_id = create(store, emulator, pg.schema)
    monkeypatch.setenv("TEST_STRIPE_KEY", "sk_test_" + "51RevokedKey000000000000000000000")

    def tick(name: str) -> Any:
        with dg.build_sensor_context(
            instance=instance, instance_ref=instance.get_ref(), resources=resources, definitions=definitions
        ) as context:
            return definitions.resolve_sensor_def(name).evaluate_tick(context)

    first = tick(LIFECYCLE_SENSOR)
    instance.add_dynamic_partitions("stripe_pipelines", [pipeline_id])
    (request,) = first.run_requests
    result = definitions.resolve_job_def("stripe_sync_job").execute_in_process(
        instance=instance, partition_key=pipeline_id, tags=dict(request.tags), raise_on_error=False
    )
    assert not result.success
    with dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        resources=resources,
    ) as context:
        definitions.resolve_sensor_def(RUN_FAILURE_SENSOR)(context.for_run_failure())

    pipeline = store.get(pipeline_id)
    assert pipeline.error is not None
    assert pipeline.error.kind is FailureKind.AUTH
    assert pipeline.error.parked
    assert "Invalid API Key provided: sk_test_****" in pipeline.error.message
    assert "51RevokedKey" not in pipeline.error.message
    assert pipeline.error.run == f"Dagster run {result.run_id}"
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.tags["sync/failure_kind"] == "auth"
    assert tick(LIFECYCLE_SENSOR).run_requests == []  # parked: nothing is retried


def test_a_connect_backfill_materializes_account_counts_and_reads_the_checkpoints_only_for_them(
    pg: PgTestDatabase,
    stripe_emulator_factory: Callable[..., RunningEmulator],
    stack: tuple[PipelineStore, dict[str, Any], dg.DagsterInstance],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each stream's materialization carries how many connected accounts are in each status
    (counts, never an entry per account). The checkpoints (21 MB of JSON at 10,000 accounts) are
    read whole only to count them, not to start the run or to find the destination."""
    store, resources, instance = stack
    connect = stripe_emulator_factory(objects=2, connected_accounts=4, connected_objects=3, seed=29)
    monkeypatch.setenv("TEST_STRIPE_KEY", connect.secret_key)
    store.create(
        PipelineCreate.model_validate(
            {
                "id": "platform",
                "source": {
                    "type": "stripe",
                    "stripe": {
                        "api_key": {"env": "TEST_STRIPE_KEY"},
                        "base_url": connect.base_url,
                        "connected_accounts": "all",
                    },
                },
                "destination": {
                    "type": "postgres",
                    "postgres": {"url": {"env": "TEST_WAREHOUSE_URL"}, "schema": f"{pg.schema}_dest"},
                },
                "streams": ["customer", "product"],
            }
        )
    )
    whole_reads: list[str] = []
    read_whole = PipelineStore.get

    def counted(self: PipelineStore, pipeline_id: str) -> Any:
        whole_reads.append(sys._getframe(1).f_code.co_name)  # who asked
        return read_whole(self, pipeline_id)

    monkeypatch.setattr(PipelineStore, "get", counted)  # the real read, with its caller noted
    definitions = build_definitions(resources=resources)
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), resources=resources, definitions=definitions
    ) as context:
        tick = definitions.resolve_sensor_def(LIFECYCLE_SENSOR).evaluate_tick(context)
    (add,) = tick.dynamic_partitions_requests
    instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    (request,) = tick.run_requests
    whole_reads.clear()

    result = definitions.resolve_job_def("stripe_sync_job").execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=dict(request.tags), raise_on_error=False
    )

    assert result.success
    materialized = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert set(materialized) == {"customer", "product"}
    ready = []
    for metadata in materialized.values():
        counts = {key: value.value for key, value in metadata.items() if key.startswith("accounts_")}
        assert counts["accounts_total"] == counts["accounts_healthy"] == 4
        assert counts["accounts_ready"] + counts["accounts_backfilling"] == 4
        assert not [key for key in metadata if key.startswith("acct_")]
        ready.append(counts["accounts_ready"])
        # the stream's last checkpoint, which the run yielded as a snapshot, written out to be shown
        cursor = metadata["sync/cursor"].value
        assert (cursor["complete"], cursor["remaining_ranges"]) == (True, 0)
        assert cursor["listed"] == metadata["dagster/row_count"].value
    assert max(ready) == 4  # once the last stream is done, every account is ready
    assert set(whole_reads) == {"_account_counts"}
    assert len(whole_reads) <= len(materialized)
