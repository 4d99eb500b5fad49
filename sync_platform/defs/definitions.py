"""The Dagster code location: assets per destination family, jobs, sensors, schedules, resources.

``build_definitions`` wires everything from a catalog (the Stripe catalog from the installed SDK by
default), so tests can build the same definitions over any catalog. ``defs`` is what
``workspace.yaml`` and ``[tool.dagster]`` load; resources read their settings from environment
variables at run time (``SYNC_PLATFORM_DATABASE_URL``), never at import.
"""

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from sync_platform.defs.assets import build_sync_assets
from sync_platform.defs.checks import build_checkpoint_freshness_checks, checkpoint_freshness_schedule
from sync_platform.defs.families import FAMILIES, DestinationFamily
from sync_platform.defs.family_assets import EventStreamMapper, family_assets
from sync_platform.defs.jobs import sync_job
from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
from sync_platform.defs.schedules import DEFAULT_RECONCILE_CRON, build_reconcile_schedule
from sync_platform.defs.sensors.events_poll import build_events_poll_sensor
from sync_platform.defs.sensors.inbox import build_inbox_sensor
from sync_platform.defs.sensors.lifecycle import build_lifecycle_sensor
from sync_platform.defs.sensors.run_failures import pipeline_run_failure_sensor
from sync_platform.defs.teardown import pipeline_teardown_job
from sync_platform.defs.translator import StripeAssetTranslator
from sync_platform.protocol import Stream

DATABASE_URL_ENV = "SYNC_PLATFORM_DATABASE_URL"
RECONCILE_CRON_ENV = "SYNC_PLATFORM_RECONCILE_CRON"
SENSOR_INTERVAL_ENV = "SYNC_PLATFORM_SENSOR_INTERVAL_SECONDS"

# Beta/preview APIs we use on purpose (FreshnessPolicy.time_window, BackfillPolicy on multi-assets);
# silencing them once here keeps every run's logs readable.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def stripe_streams() -> list[Stream]:
    """Every stream of the Stripe catalog derived from the installed ``stripe`` SDK."""
    from sync_platform.sources.stripe import catalog_payload

    return catalog_payload([]).streams


def stripe_event_streams() -> EventStreamMapper:
    """Maps Stripe event types to the catalog streams they change (for selecting live-run assets)."""
    from sync_platform.sources.stripe import stripe_catalog

    owner = {event_type: d.name for d in stripe_catalog() for event_type in d.event_types}

    def streams_for(event_types: Any) -> set[str] | None:
        streams = {owner[event_type] for event_type in event_types if event_type in owner}
        return streams or None

    return streams_for


def env_resources() -> dict[str, Any]:
    app_db = AppDatabaseResource(url=dg.EnvVar(DATABASE_URL_ENV))
    return {"pipelines": PipelineResource(app_db=app_db), "sync_engine": SyncEngineResource()}


def build_definitions(
    *,
    streams: Sequence[Stream] | None = None,
    families: Sequence[DestinationFamily] = FAMILIES,
    streams_for_events: EventStreamMapper | None = None,
    translator: StripeAssetTranslator | None = None,
    reconcile_cron: str = DEFAULT_RECONCILE_CRON,
    sensor_interval_seconds: int | None = None,
    resources: Mapping[str, Any] | None = None,
) -> dg.Definitions:
    """All definitions for ``families`` over ``streams`` (the Stripe catalog when omitted)."""
    if streams is None:
        streams = stripe_streams()
        streams_for_events = streams_for_events or stripe_event_streams()
    built = [family_assets(family, build_sync_assets(family, streams, translator)) for family in families]
    checks = [build_checkpoint_freshness_checks(fa) for fa in built]
    jobs = [sync_job(fa.family, fa.assets, check) for fa, check in zip(built, checks, strict=True)]
    launchable = [*jobs, pipeline_teardown_job]
    sensors = [
        build_lifecycle_sensor(
            built, launchable, streams_for_events, minimum_interval_seconds=sensor_interval_seconds or 15
        ),
        build_inbox_sensor(
            built, jobs, streams_for_events, minimum_interval_seconds=sensor_interval_seconds or 5
        ),
        build_events_poll_sensor(built, jobs),
        pipeline_run_failure_sensor,
    ]
    schedules = [
        *(build_reconcile_schedule(fa, job, reconcile_cron) for fa, job in zip(built, jobs, strict=True)),
        checkpoint_freshness_schedule(checks),
    ]
    return dg.Definitions(
        assets=[fa.assets for fa in built],
        asset_checks=checks,
        jobs=launchable,
        sensors=sensors,
        schedules=schedules,
        resources=dict(resources) if resources is not None else env_resources(),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Settings that shape definitions (not resources) are read here, when the location loads."""
    interval = os.environ.get(SENSOR_INTERVAL_ENV)
    return build_definitions(
        reconcile_cron=os.environ.get(RECONCILE_CRON_ENV) or DEFAULT_RECONCILE_CRON,
        sensor_interval_seconds=int(interval) if interval else None,
    )
