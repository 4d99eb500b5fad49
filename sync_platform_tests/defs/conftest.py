"""Dagster test harness: a real instance, the real app store on the test PostgreSQL, real connectors.

``FIXTURE_FAMILY`` is an asset family over the built-in fixture source and ``null``/``echo``
destinations, so the sync assets, checkpoints and sensors can be exercised end to end in seconds;
the Stripe/Postgres family is exercised the same way in its own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest

from sync_platform.defs.definitions import build_definitions
from sync_platform.defs.families import DestinationFamily
from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
from sync_platform.pipelines import PipelineCreate, PipelineStore
from sync_platform.sources.fixture import FixtureSource
from sync_platform_tests.plugins.postgres import PgTestDatabase

FIXTURE_FAMILY = DestinationFamily(
    destination_type="null", key_prefix="fixture", kind="null", group_name="fixture", storage_noun="sink"
)
STREAMS = {"customer": 250, "invoice": 120}
WEBHOOK_SECRET_ENV = "FIXTURE_WEBHOOK_SECRET"


def fixture_streams() -> list[Any]:
    import asyncio

    return asyncio.run(FixtureSource().discover({"streams": STREAMS})).streams


@dataclass
class DagsterHarness:
    instance: dg.DagsterInstance
    store: PipelineStore
    assets: dg.AssetsDefinition
    resources: dict[str, Any]
    definitions: dg.Definitions

    def sensor(self, name: str) -> dg.SensorDefinition:
        return self.definitions.resolve_sensor_def(name)

    def tick(self, name: str, cursor: str | None = None) -> Any:
        """Evaluate a sensor tick the way the daemon does (run requests resolved, partitions checked)."""
        with dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=cursor,
            resources=self.resources,
            definitions=self.definitions,
        ) as context:
            return self.sensor(name).evaluate_tick(context)

    def apply_partition_requests(self, data: Any) -> None:
        """Do what the daemon does with a tick's dynamic partition requests."""
        for request in data.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
            else:
                for key in request.partition_keys:
                    self.instance.delete_dynamic_partition(request.partitions_def_name, key)

    def partitions(self) -> list[str]:
        return list(self.instance.get_dynamic_partitions(FIXTURE_FAMILY.partitions_def.name))

    def create_pipeline(
        self, pipeline_id: str = "pipe_one", *, add_partition: bool = True, **source: Any
    ) -> str:
        self.store.create(
            PipelineCreate.model_validate(
                {
                    "id": pipeline_id,
                    "source": {
                        "type": "fixture",
                        "fixture": {
                            "streams": STREAMS,
                            "state_every": 10,
                            "webhook_secret": {"env": WEBHOOK_SECRET_ENV},
                            **source,
                        },
                    },
                    "destination": {"type": "null"},
                }
            )
        )
        if add_partition:
            self.instance.add_dynamic_partitions(FIXTURE_FAMILY.partitions_def.name, [pipeline_id])
        return pipeline_id

    def materialize(
        self,
        pipeline_id: str,
        *,
        streams: list[str] | None = None,
        tags: dict[str, str] | None = None,
        **config: Any,
    ) -> dg.ExecuteInProcessResult:
        selection = [dg.AssetKey([FIXTURE_FAMILY.key_prefix, s]) for s in streams] if streams else None
        return dg.materialize(
            [self.assets],
            partition_key=pipeline_id,
            instance=self.instance,
            resources=self.resources,
            selection=selection,
            tags=tags,
            run_config=dg.RunConfig(ops={FIXTURE_FAMILY.assets_name: {"config": config}}) if config else None,
            raise_on_error=False,
        )


@pytest.fixture
def dagster_instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def harness(
    pg: PgTestDatabase, dagster_instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterHarness]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, "whsec_fixture_tests_0123456789")
    app_db = AppDatabaseResource(url=pg.url, store_schema=pg.schema)
    resources = {"pipelines": PipelineResource(app_db=app_db), "sync_engine": SyncEngineResource()}
    definitions = build_definitions(streams=fixture_streams(), families=[FIXTURE_FAMILY], resources=resources)
    assets = next(iter(definitions.assets or []))
    with PipelineStore(pg.url, schema=pg.schema) as store:
        yield DagsterHarness(dagster_instance, store, assets, resources, definitions)
