"""Asset jobs: one per destination family, partitioned by that family's pipeline ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import dagster as dg

from sync_platform.defs.families import DestinationFamily

if TYPE_CHECKING:
    # What ``dg.define_asset_job`` returns has no public name in dagster 1.13 (it is not in
    # ``dagster.__all__``): the type checker alone reads it, and only from here.
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

AssetJob: TypeAlias = "UnresolvedAssetJobDefinition"
"""An asset job as ``dg.define_asset_job`` returns it (resolved when ``Definitions`` are built)."""
LaunchableJob: TypeAlias = "dg.JobDefinition | UnresolvedAssetJobDefinition"
"""A job a sensor or schedule may target: an asset job, or an op job such as the teardown."""


def sync_job(
    family: DestinationFamily, assets: dg.AssetsDefinition, standalone_checks: dg.AssetChecksDefinition
) -> AssetJob:
    """The job sensors and schedules launch for the family (a run may select any subset of streams).

    The hourly freshness checks are left out: they have their own schedule, and running them after
    every live run would add a step (and seconds of latency) to each webhook's path.
    """
    return dg.define_asset_job(
        name=family.job_name,
        selection=dg.AssetSelection.assets(assets) - dg.AssetSelection.checks(standalone_checks),
        description=f"Sync Stripe streams of one pipeline into its {family.destination_type} destination.",
    )
