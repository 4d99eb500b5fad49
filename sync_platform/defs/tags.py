"""Run tag names: identity and search keys for runs (never state)."""

from __future__ import annotations

from enum import StrEnum

PIPELINE_TAG = "pipeline/id"  # also the key of the one-run-per-pipeline concurrency limit
LANE_TAG = "sync/lane"
BATCHES_TAG = "sync/batches"
INBOX_MAX_ID_TAG = "sync/inbox_max_id"
TRIGGER_TAG = "sync/trigger"


class Lane(StrEnum):
    """Why a run was launched; decides which checkpoint it reads and what it does with the result."""

    BACKFILL = "backfill"  # setup if needed, then the resumable backfill (the default)
    LIVE = "live"  # apply pending webhook events from the inbox
    POLL = "poll"  # read changes from the Stripe events API since the live cursor
    RECONCILE = "reconcile"  # replay a recent window of events to heal anything missed
    TEARDOWN = "teardown"
