"""A family's built assets plus the lookups sensors need (stream <-> asset key, job name)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from sync_platform.defs.families import DestinationFamily

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


def family_assets(family: DestinationFamily, assets: dg.AssetsDefinition) -> FamilyAssets:
    return FamilyAssets(family, assets, {key.path[-1]: key for key in assets.keys})
