"""A family's built assets plus the lookups sensors need (stream <-> asset key, job name)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from sync_platform.defs.families import DestinationFamily
from sync_platform.defs.reporting import ROW_CHECK
from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG, TRIGGER_TAG, Lane

# Maps Stripe event types (e.g. "customer.updated") to the streams they change; None = unknown.
EventStreamMapper = Callable[[Iterable[str]], set[str] | None]


@dataclass(frozen=True)
class FamilyAssets:
    family: DestinationFamily
    assets: dg.AssetsDefinition
    keys_by_stream: dict[str, dg.AssetKey]

    @property
    def job_name(self) -> str:
        return self.family.job_name

    def keys_for(self, streams: Iterable[str] | None) -> Sequence[dg.AssetKey]:
        """Asset keys of ``streams`` (all of the family's when None or when none is known)."""
        if streams is None:
            return sorted(self.keys_by_stream.values(), key=lambda key: key.to_user_string())
        keys = [self.keys_by_stream[name] for name in sorted(streams) if name in self.keys_by_stream]
        return keys or self.keys_for(None)

    def sync_request(
        self,
        pipeline_id: str,
        lane: Lane,
        *,
        trigger: str,
        streams: Iterable[str] | None = None,
        run_key: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dg.RunRequest:
        """A run of the family's job for one pipeline in one lane, over ``streams`` (all: None).

        Only a backfill run selects the ``row_count_matches_source`` checks: it is the one lane that
        can evaluate them (after a completed backfill, rows against the objects it listed). Any other
        run that selected them would record them as skipped, hiding the backfill's result.
        """
        keys = list(self.keys_for(streams))
        return dg.RunRequest(
            run_key=run_key,
            job_name=self.job_name,
            partition_key=pipeline_id,
            asset_selection=keys,
            # Named, not left to Dagster's default (every check of the selected assets), which would
            # also pull in the hourly freshness checks the job leaves out.
            asset_check_keys=[dg.AssetCheckKey(key, ROW_CHECK) for key in keys]
            if lane is Lane.BACKFILL
            else [],
            tags={PIPELINE_TAG: pipeline_id, LANE_TAG: lane.value, TRIGGER_TAG: trigger, **(tags or {})},
        )


def family_assets(family: DestinationFamily, assets: dg.AssetsDefinition) -> FamilyAssets:
    return FamilyAssets(family, assets, {key.path[-1]: key for key in assets.keys})
