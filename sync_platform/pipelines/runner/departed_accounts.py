"""Accounts that left a pipeline (a deauthorized Stripe Connect account): no read asks them again,
and their rows are purged from the destination when the pipeline opted in.

The source knows which accounts left and whether the pipeline asked for their rows to go (Stripe:
``account.application.deauthorized`` webhooks, ``purge_deauthorized``); the destination knows how to
remove one account's rows (the destination kit's ``purge_account``). The runner only joins the
two, through ``engine.source_lanes`` and the kit, and never reads a source's state itself:

- **reads skip them**: the live lane learns of a departure in the live checkpoint, while the
  backfill batches and the reconcile's replay start from other states. Each such read gets the
  live lane's account changes carried into its state (``carry_account_changes``), so an account
  that left costs no request, whether it came from a listing or a hand-kept list;
- **the purge is decided here, in one place** (``purge_departed_accounts``): after a live run that
  applied events, for the accounts that left during it (a deauthorization arrives as an event),
  and in every reconcile, for every account (which catches a pipeline that opted in later, or a
  purge that failed). The destination removes the rows first;
  then the backfill checkpoint the source returns (``forget_accounts``) is saved, recording the
  purge (never repeated; the account shows ``purged``) and forgetting the account's progress with
  its rows, so an account authorized again is backfilled from scratch. A crash in between purges
  again, which removes nothing.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from sync_platform.engine import source_lanes
from sync_platform.engine.destination_kit import purge_account
from sync_platform.engine.resolve import bind_destination, bind_source
from sync_platform.pipelines.checkpoints import CheckpointLane
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.runner.events import AccountsPurged, RunEvent

if TYPE_CHECKING:
    from sync_platform.pipelines.runner.lane_run import LaneRun


def _source_part(state: Any) -> Any:
    """The source's part of a stored checkpoint (a ``SyncState`` as JSON)."""
    return state.get("source") if isinstance(state, dict) else None


def carry_account_changes(run: LaneRun, pipeline: Pipeline, state: dict[str, Any] | None) -> Any:
    """``state`` (a checkpoint as JSON) with the live lane's account changes carried into its
    source part, for a read that does not start from the live checkpoint; ``state`` itself when
    there is nothing to carry (the source has no accounts that come and go, or knows them all)."""
    live = _source_part(run.store.get_checkpoint(run.pipeline_id, CheckpointLane.LIVE).state)
    if not live:
        return state
    source = bind_source(run.engine.registry, run.store.resolve_secrets(pipeline).source).connector
    carried = source_lanes.with_account_changes(source, _source_part(state), live)
    if carried is None:
        return state
    return {**(state or {}), "source": carried}


def purge_departed_accounts(
    run: LaneRun, pipeline: Pipeline, *, live_before: dict[str, Any] | None = None, every: bool = True
) -> Generator[RunEvent, None, None]:
    """Remove the rows of the accounts the source says wait for it, then record the purge.

    ``every`` false (the live lane) looks only at accounts that left since ``live_before`` (the
    live checkpoint before the run applied its events): the backfill checkpoint, which holds an
    entry per account and stream, is then read only when an account just left, so a live run
    stays cheap on a platform of thousands of accounts. A purge that failed there is retried by
    the next reconcile, which looks at every account.
    """
    resolved = run.store.resolve_secrets(pipeline)
    source = bind_source(run.engine.registry, resolved.source)
    live = _source_part(run.store.get_checkpoint(run.pipeline_id, CheckpointLane.LIVE).state)
    waiting = source_lanes.accounts_to_purge(source.connector, source.config, None, live)
    if not waiting:
        return
    if not every:
        known = source_lanes.accounts_to_purge(
            source.connector, source.config, None, _source_part(live_before)
        )
        if set(waiting) <= set(known):
            return
    backfill = _source_part(run.store.get_checkpoint(run.pipeline_id, CheckpointLane.BACKFILL).state)
    accounts = source_lanes.accounts_to_purge(source.connector, source.config, backfill, live)
    if not accounts:
        return
    destination = bind_destination(run.engine.registry, resolved.destination)
    rows = {
        account: purge_account(destination.connector, destination.config, account) for account in accounts
    }
    purged = [account for account, removed in rows.items() if removed is not None]
    if purged:

        def record(tx: Any) -> None:
            checkpoint = tx.get_checkpoint(run.pipeline_id, CheckpointLane.BACKFILL)
            state = dict(checkpoint.state or {})
            forgotten = source_lanes.forget_accounts(
                source.connector, _source_part(checkpoint.state), live, purged
            )
            state["source"] = forgotten
            tx.save_checkpoint(
                run.pipeline_id, state, lane=CheckpointLane.BACKFILL, expected_version=checkpoint.version
            )

        run.store.atomically(record)
    yield AccountsPurged(run.lane, rows)
