"""Asset jobs: one per destination family, partitioned by that family's pipeline ids."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # not exported at top level
)

from sync_platform.defs.families import DestinationFamily


def sync_job(
    family: DestinationFamily, assets: dg.AssetsDefinition, standalone_checks: dg.AssetChecksDefinition
) -> UnresolvedAssetJobDefinition:
    """The job sensors and schedules launch for the family (a run may select any subset of streams).

    The hourly freshness checks are left out: they have their own schedule, and running them after
    every live run would add a step (and seconds of latency) to each webhook's path.
    """
    return dg.define_asset_job(
        name=family.job_name,
        selection=dg.AssetSelection.assets(assets) - dg.AssetSelection.checks(standalone_checks),
        description=f"Sync Stripe streams of one pipeline into its {family.destination_type} destination.",
    )
