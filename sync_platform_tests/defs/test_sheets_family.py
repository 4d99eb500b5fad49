"""The Google Sheets family end to end: Stripe (the emulator) -> the local Sheets API, through Dagster.

A pipeline whose destination is ``google_sheets`` must get what a Postgres one gets: its partition
in ``stripe_sheets_pipelines``, setup + backfill runs of ``stripe_sheets_sync_job`` from the
lifecycle sensor, per-batch checkpoints and observations, live runs from the webhook inbox, and
``dagster/row_count`` equal to the rows its tab really holds. Everything is real: the Dagster
instance, the app store on the test PostgreSQL, the Stripe emulator, the webhook receiver, and
gspread talking to the local Sheets API with a generated service account.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from cryptography.fernet import Fernet

from sync_platform.defs.definitions import build_definitions
from sync_platform.defs.families import GOOGLE_SHEETS, POSTGRES
from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
from sync_platform.defs.sensors.inbox import INBOX_SENSOR
from sync_platform.defs.sensors.lifecycle import LIFECYCLE_SENSOR
from sync_platform.defs.tags import INBOX_MAX_ID_TAG, LANE_TAG
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import SystemClock
from sync_platform.pipelines import (
    SECRET_KEY_ENV,
    CheckpointLane,
    PipelineCreate,
    PipelineStatus,
    PipelineStore,
)
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform.webhooks import WebhookServer, bind_socket, create_app
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.plugins.sheets_server import ServiceAccount

STREAMS = ["customer", "invoice", "product"]
COUNTS = {"customer": 230, "invoice": 12, "product": 8}
STRIPE_KEY_ENV = "TEST_STRIPE_KEY"
SHEETS_KEY_ENV = "TEST_SHEETS_SERVICE_ACCOUNT"
WAREHOUSE_URL_ENV = "TEST_WAREHOUSE_URL"


def sheets_key(stream: str) -> dg.AssetKey:
    return dg.AssetKey([GOOGLE_SHEETS.key_prefix, stream])


@dataclass
class SheetsStack:
    """The Dagster definitions over the real store, with the servers a Sheets pipeline talks to."""

    pg: PgTestDatabase
    store: PipelineStore
    instance: dg.DagsterInstance
    definitions: dg.Definitions
    resources: dict[str, Any]
    stripe: RunningEmulator
    sheets: SheetsEmulator

    def tick(self, sensor_name: str, cursor: str | None = None) -> dg.SensorExecutionData:
        """Evaluate a sensor tick, then add and delete the partitions it asked to (as the daemon does)."""
        with dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=cursor,
            resources=self.resources,
            definitions=self.definitions,
        ) as context:
            data = self.definitions.resolve_sensor_def(sensor_name).evaluate_tick(context)
        for request in data.dynamic_partitions_requests or []:
            name, keys = request.partitions_def_name, list(request.partition_keys)
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(name, keys)
            else:
                for key in keys:
                    self.instance.delete_dynamic_partition(name, key)
        return data

    def execute(self, request: dg.RunRequest, **config: Any) -> dg.ExecuteInProcessResult:
        """Run what a sensor requested, in process, on the job it named."""
        assert request.job_name is not None
        job = self.definitions.resolve_job_def(request.job_name)
        ops = {GOOGLE_SHEETS.assets_name: {"config": config}} if config else {}
        return job.execute_in_process(
            run_config={"ops": ops} if ops else None,
            instance=self.instance,
            partition_key=request.partition_key,
            tags=dict(request.tags),
            asset_selection=list(request.asset_selection) if request.asset_selection else None,
            raise_on_error=False,
        )

    def create_sheets_pipeline(
        self, pipeline_id: str, *, webhook_url: str | None = None, **settings: Any
    ) -> str:
        source: dict[str, Any] = {"api_key": {"env": STRIPE_KEY_ENV}, "base_url": self.stripe.base_url}
        if webhook_url is not None:
            source["webhook_url"] = f"{webhook_url}/webhooks/{pipeline_id}"
        assert self.sheets.base_url is not None
        destination = {
            "service_account_json": {"env": SHEETS_KEY_ENV},
            "api_base_url": self.sheets.base_url,
            "spreadsheet_title": f"Stripe of {pipeline_id}",
            **settings,
        }
        return self._create(pipeline_id, source, {"type": "google_sheets", "google_sheets": destination})

    def create_postgres_pipeline(self, pipeline_id: str) -> str:
        source = {"api_key": {"env": STRIPE_KEY_ENV}, "base_url": self.stripe.base_url}
        destination = {"url": {"env": WAREHOUSE_URL_ENV}, "schema": f"{self.pg.schema}_{pipeline_id}"}
        return self._create(pipeline_id, source, {"type": "postgres", "postgres": destination})

    def _create(self, pipeline_id: str, source: dict[str, Any], destination: dict[str, Any]) -> str:
        self.store.create(
            PipelineCreate.model_validate(
                {
                    "id": pipeline_id,
                    "source": {"type": "stripe", "stripe": source},
                    "destination": destination,
                    "streams": STREAMS,
                }
            )
        )
        return pipeline_id

    def spreadsheet_id(self, pipeline_id: str) -> str:
        spreadsheet_id = self.store.get(pipeline_id).destination.config.get("spreadsheet_id")
        assert isinstance(spreadsheet_id, str), "setup's spreadsheet_id was not saved on the pipeline"
        return spreadsheet_id

    def tab(self, pipeline_id: str, stream: str) -> dict[str, dict[str, Any]]:
        """The rows of ``stream``'s tab, read straight from the Sheets API's storage, by object id.

        ``_updated_at`` is left out: a backfilled object without an ``updated`` field is stamped
        with the time it was listed, which a re-run moves on.
        """
        header, *rows = self.sheets.values(self.spreadsheet_id(pipeline_id), stream)
        records = [dict(zip(header, row, strict=False)) for row in rows]
        return {str(r["id"]): {k: v for k, v in r.items() if k != "_updated_at"} for r in records}

    def backfill(self, pipeline_id: str, **config: Any) -> dg.ExecuteInProcessResult:
        """One lifecycle tick for a new pipeline, then the backfill run it requested."""
        (request,) = [
            r for r in self.tick(LIFECYCLE_SENSOR).run_requests or [] if r.partition_key == pipeline_id
        ]
        result = self.execute(request, **config)
        assert result.success, _failure(result)
        return result


def _failure(result: dg.ExecuteInProcessResult) -> str:
    failures = [e.event_specific_data for e in result.all_events if e.is_step_failure]
    return str(failures[0].error.message) if failures else "the run failed"  # type: ignore[union-attr]


class LeadingClock(SystemClock):
    """Stripe's clock a few seconds ahead of the pages' ``Date``: events come strictly after listings.

    Versions have second resolution (an object without ``updated`` is versioned by the page's
    ``Date``, an event by its ``created``), so a change made in the very second its object was
    listed ties with it and the tab keeps what it has. A real change comes later than that.
    """

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=2)


@pytest.fixture
def stripe(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=0, counts=COUNTS, seed=11, clock=LeadingClock())


@pytest.fixture
def stack(
    pg: PgTestDatabase,
    stripe: RunningEmulator,
    sheets: SheetsEmulator,
    service_account: ServiceAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SheetsStack]:
    monkeypatch.setenv(STRIPE_KEY_ENV, stripe.secret_key)
    monkeypatch.setenv(SHEETS_KEY_ENV, service_account.key_json)
    monkeypatch.setenv(WAREHOUSE_URL_ENV, pg.url)
    monkeypatch.setenv(SECRET_KEY_ENV, Fernet.generate_key().decode())  # seals setup's webhook secret
    resources = {
        "pipelines": PipelineResource(app_db=AppDatabaseResource(url=pg.url, store_schema=pg.schema)),
        "sync_engine": SyncEngineResource(),
    }
    definitions = build_definitions(resources=resources)
    with PipelineStore(pg.url, schema=pg.schema) as store, dg.instance_for_test() as instance:
        yield SheetsStack(pg, store, instance, definitions, resources, stripe, sheets)


@pytest.fixture
def receiver_url(stack: SheetsStack) -> Iterator[str]:
    """The real webhook receiver over the test's store, where the emulator delivers signed events."""
    server = WebhookServer(create_app(stack.store), sock=bind_socket("127.0.0.1", 0))
    with server.in_background("webhook-receiver") as url:
        yield url


# --- lifecycle and backfill ------------------------------------------------------------------------


def test_a_sheets_pipeline_gets_its_partition_and_a_backfill_on_the_sheets_job(stack: SheetsStack) -> None:
    pipeline_id = stack.create_sheets_pipeline("shop")
    tick = stack.tick(LIFECYCLE_SENSOR)
    (add,) = tick.dynamic_partitions_requests
    assert (add.partitions_def_name, list(add.partition_keys)) == ("stripe_sheets_pipelines", [pipeline_id])
    (request,) = tick.run_requests
    assert request.job_name == "stripe_sheets_sync_job"
    assert request.tags[LANE_TAG] == "backfill"

    result = stack.execute(request)

    assert result.success, _failure(result)
    materialized = {
        e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    assert set(materialized) == {sheets_key(stream) for stream in STREAMS}
    for stream in STREAMS:
        tab = stack.tab(pipeline_id, stream)
        assert set(tab) == {obj["id"] for obj in stack.stripe.objects(stream)}
        assert materialized[sheets_key(stream)]["dagster/row_count"].value == len(tab) == COUNTS[stream]
    checks = {e.asset_key: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(materialized, True)  # rows in the tab == objects the backfill listed
    assert stack.store.get(pipeline_id).status is PipelineStatus.READY


def test_setup_saves_the_new_spreadsheet_id_on_the_pipeline_and_a_second_run_reuses_it(
    stack: SheetsStack,
) -> None:
    """Setup's ``control`` message is the only place the new spreadsheet's id exists (reference bug 23)."""
    pipeline_id = stack.create_sheets_pipeline("shop")
    stack.backfill(pipeline_id)
    spreadsheet_id = stack.spreadsheet_id(pipeline_id)
    assert stack.sheets.spreadsheet_ids() == [spreadsheet_id]
    stored = stack.store.get(pipeline_id).destination.config
    assert stored["service_account_json"] == {"env": SHEETS_KEY_ENV}  # still a reference, not a copy
    before = {stream: stack.tab(pipeline_id, stream) for stream in STREAMS}

    again = stack.execute(_backfill_request(pipeline_id), reset_state=True)

    assert again.success, _failure(again)
    assert stack.sheets.spreadsheet_ids() == [spreadsheet_id]
    assert {stream: stack.tab(pipeline_id, stream) for stream in STREAMS} == before  # upserted, not doubled
    rows = {e.asset_key: e.materialization.metadata for e in again.get_asset_materialization_events()}
    assert {key: metadata["dagster/row_count"].value for key, metadata in rows.items()} == {
        sheets_key(stream): COUNTS[stream] for stream in STREAMS
    }


def test_a_setup_that_fails_after_creating_the_spreadsheet_is_retried_into_that_spreadsheet(
    stack: SheetsStack,
) -> None:
    pipeline_id = stack.create_sheets_pipeline("shop", max_retries=0)
    (request,) = stack.tick(LIFECYCLE_SENSOR).run_requests
    # Creating the tabs fails with a 503 and no retry is left: Google is down (a transient failure).
    stack.sheets.fail_next(1, status=503, kinds=("spreadsheets.batchUpdate",))

    failed = stack.execute(request)

    assert not failed.success
    assert failed.get_asset_materialization_events() == []
    spreadsheet_id = stack.spreadsheet_id(pipeline_id)  # saved before the failure
    pipeline = stack.store.get(pipeline_id)
    assert pipeline.status is PipelineStatus.ERROR  # recorded, to be retried: setup comes next
    assert pipeline.error is not None
    assert not pipeline.error.parked
    assert pipeline.resume_status is PipelineStatus.SETUP

    retried = stack.execute(request)

    assert retried.success, _failure(retried)
    assert stack.sheets.spreadsheet_ids() == [spreadsheet_id]
    assert len(stack.tab(pipeline_id, "customer")) == COUNTS["customer"]
    assert stack.store.get(pipeline_id).status is PipelineStatus.READY


def test_every_batch_commits_its_checkpoint_and_records_an_observation_per_stream_it_touched(
    stack: SheetsStack,
) -> None:
    pipeline_id = stack.create_sheets_pipeline("shop")
    result = stack.backfill(pipeline_id, state_limit=1)  # one checkpoint (one Stripe page) per batch

    run = stack.instance.get_run_by_id(result.run_id)
    assert run is not None
    batches = int(run.tags["sync/batches"])
    checkpoint = stack.store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL)
    assert checkpoint.version >= batches  # saved as its pages commit, and at the end of every batch
    assert checkpoint.state is not None
    streams = checkpoint.state["source"]["streams"]
    assert {stream: value["remaining"] for stream, value in streams.items()} == {s: [] for s in STREAMS}
    records = stack.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=sheets_key("customer"), asset_partitions=[pipeline_id]), limit=100
    ).records
    observed = [r.asset_observation.metadata for r in records]  # type: ignore[union-attr]
    assert len(observed) >= 3  # 230 customers are three pages
    assert len({m["sync/batch"].value for m in observed}) == len(observed)
    assert all(m["sync/checkpoints"].value == 1 for m in observed)
    assert sum(m["sync/records"].value for m in observed) == COUNTS["customer"]
    newest = observed[0]["sync/checkpoint"].value
    assert newest["complete"] is True
    assert newest["listed"] == COUNTS["customer"]
    assert checkpoint.state["source"]["streams"]["customer"]["remaining"] == []


# --- live runs from the webhook inbox --------------------------------------------------------------


def test_the_inbox_sensor_launches_a_live_sheets_run_that_writes_the_change_into_the_tab(
    stack: SheetsStack, receiver_url: str
) -> None:
    pipeline_id = stack.create_sheets_pipeline("shop", webhook_url=receiver_url)
    stack.backfill(pipeline_id)
    customer = stack.stripe.objects("customer")[5]["id"]
    rows_before = len(stack.tab(pipeline_id, "customer"))
    stack.stripe.update("customer", customer, {"name": "Renamed through a webhook"})
    stack.stripe.wait_for_deliveries()
    assert stack.store.count_pending_inbox(pipeline_id) == 1  # verified and stored by the receiver

    (request,) = stack.tick(INBOX_SENSOR).run_requests
    assert request.job_name == "stripe_sheets_sync_job"
    assert request.partition_key == pipeline_id
    assert request.tags[LANE_TAG] == "live"
    assert request.run_key == f"{pipeline_id}:live:{request.tags[INBOX_MAX_ID_TAG]}"
    assert list(request.asset_selection or []) == [sheets_key("customer")]

    result = stack.execute(request)

    assert result.success, _failure(result)
    tab = stack.tab(pipeline_id, "customer")
    assert tab[customer]["name"] == "Renamed through a webhook"
    assert len(tab) == rows_before
    (materialized,) = result.get_asset_materialization_events()
    assert materialized.asset_key == sheets_key("customer")
    metadata = materialized.materialization.metadata
    assert metadata["sync/lane"].value == "live"
    assert metadata["sync/updated"].value == 1
    assert metadata["dagster/row_count"].value == rows_before
    assert stack.store.count_pending_inbox(pipeline_id) == 0
    assert stack.store.get_checkpoint(pipeline_id, CheckpointLane.LIVE).version == 1


# --- the two families side by side -----------------------------------------------------------------


def test_postgres_and_sheets_pipelines_each_land_only_in_their_own_familys_partitions(
    stack: SheetsStack,
) -> None:
    warehouse = stack.create_postgres_pipeline("warehouse")
    spreadsheet = stack.create_sheets_pipeline("spreadsheet")

    tick = stack.tick(LIFECYCLE_SENSOR)

    assert stack.instance.get_dynamic_partitions(POSTGRES.partitions_def.name) == [warehouse]
    assert stack.instance.get_dynamic_partitions(GOOGLE_SHEETS.partitions_def.name) == [spreadsheet]
    jobs = {r.partition_key: r.job_name for r in tick.run_requests or []}
    assert jobs == {warehouse: "stripe_sync_job", spreadsheet: "stripe_sheets_sync_job"}
    for pipeline_id in (warehouse, spreadsheet):
        stack.store.set_status(pipeline_id, PipelineStatus.BACKFILL)
        stack.store.set_status(pipeline_id, PipelineStatus.READY)
    assert _reconcile_targets(stack, "reconcile_schedule") == {(warehouse, "stripe_sync_job")}
    assert _reconcile_targets(stack, "stripe_sheets_reconcile_schedule") == {
        (spreadsheet, "stripe_sheets_sync_job")
    }


def test_deleting_a_sheets_pipeline_removes_its_tabs_then_its_partition(stack: SheetsStack) -> None:
    pipeline_id = stack.create_sheets_pipeline("shop")
    stack.backfill(pipeline_id)
    spreadsheet_id = stack.spreadsheet_id(pipeline_id)
    stack.store.delete(pipeline_id)

    (request,) = stack.tick(LIFECYCLE_SENSOR).run_requests
    assert request.job_name == "pipeline_teardown_job"
    teardown = stack.definitions.resolve_job_def(request.job_name).execute_in_process(
        run_config=request.run_config, instance=stack.instance, tags=dict(request.tags)
    )

    assert teardown.success
    assert [sheet.title for sheet in stack.sheets.sheets(spreadsheet_id)] == ["Sheet1"]  # a blank one stays
    assert stack.store.get(pipeline_id).torn_down_at is not None
    stack.tick(LIFECYCLE_SENSOR)
    assert stack.instance.get_dynamic_partitions(GOOGLE_SHEETS.partitions_def.name) == []


def _backfill_request(pipeline_id: str) -> dg.RunRequest:
    return dg.RunRequest(
        job_name=GOOGLE_SHEETS.job_name,
        partition_key=pipeline_id,
        tags={"pipeline/id": pipeline_id, LANE_TAG: "backfill"},
    )


def _reconcile_targets(stack: SheetsStack, schedule_name: str) -> set[tuple[str | None, str | None]]:
    schedule = stack.definitions.resolve_schedule_def(schedule_name)
    with dg.build_schedule_context(
        instance=stack.instance,
        scheduled_execution_time=datetime(2026, 3, 1, 3, tzinfo=UTC),
        resources=stack.resources,
        repository_def=stack.definitions.get_repository_def(),
    ) as context:
        data = schedule.evaluate_tick(context)
    return {(r.partition_key, r.job_name or schedule.job_name) for r in data.run_requests or []}
