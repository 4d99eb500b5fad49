"""The stream assets: one ``multi_asset`` per destination family, one spec per catalog stream.

Subsetting works (``can_subset=True``): a run syncs only the selected streams. Partitions are the
family's dynamic pipeline ids. All sync work shares the ``stripe_api`` pool, so an operator can cap
how many syncs call Stripe at once (``dagster instance concurrency set stripe_api N``).
"""

from collections.abc import Iterator, Sequence

import dagster as dg

from sync_platform.defs.config import SyncConfig
from sync_platform.defs.families import DestinationFamily
from sync_platform.defs.reporting import ROW_CHECK
from sync_platform.defs.resources import PipelineResource, SyncEngineResource
from sync_platform.defs.sync_run import SyncRun
from sync_platform.defs.translator import StripeAssetTranslator
from sync_platform.protocol import Stream

STRIPE_API_POOL = "stripe_api"


def build_sync_assets(
    family: DestinationFamily, streams: Sequence[Stream], translator: StripeAssetTranslator | None = None
) -> dg.AssetsDefinition:
    """The family's multi-asset over ``streams``; its body is a ``SyncRun`` for the partition."""
    translator = translator or StripeAssetTranslator()
    specs = [translator.get_asset_spec(stream, family) for stream in streams]
    streams_by_key = {spec.key: stream.name for spec, stream in zip(specs, streams, strict=True)}
    check_specs = [
        dg.AssetCheckSpec(
            ROW_CHECK,
            asset=spec.key,
            description="After a full backfill, the destination holds one row per object it listed.",
        )
        for spec in specs
    ]

    @dg.multi_asset(
        name=family.assets_name,
        specs=specs,
        check_specs=check_specs,
        can_subset=True,
        partitions_def=family.partitions_def,
        backfill_policy=dg.BackfillPolicy.multi_run(1),
        pool=STRIPE_API_POOL,
        description=f"Syncs a pipeline's Stripe streams into its {family.destination_type} destination.",
    )
    def _sync(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        pipelines: PipelineResource,
        sync_engine: SyncEngineResource,
    ) -> Iterator[dg.MaterializeResult]:
        yield from SyncRun(context, config, pipelines, sync_engine, family, streams_by_key).execute()

    return _sync
