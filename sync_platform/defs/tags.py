"""Run tag names: identity and search keys for runs (never state)."""

from __future__ import annotations

from enum import StrEnum

from sync_platform.pipelines.runner import Lane

PIPELINE_TAG = "pipeline/id"  # also the key of the one-run-per-pipeline concurrency limit
LANE_TAG = "sync/lane"  # a pipelines.runner.Lane value: what the run does
BATCHES_TAG = "sync/batches"
RECORDS_TAG = "sync/records"  # records the run's committed batches wrote so far (for run lists)
INBOX_MAX_ID_TAG = "sync/inbox_max_id"
TRIGGER_TAG = "sync/trigger"
FAILURE_KIND_TAG = "sync/failure_kind"  # a FailureKind value, on runs whose lane failed
OUTCOME_TAG = "sync/outcome"  # how a failed run ended, for the failure sensor (see Outcome)


class Outcome(StrEnum):
    """Why a run failed, as far as the run-failure sensor is concerned."""

    FAILURE_RECORDED = "failure_recorded"  # the runner recorded the failure on the pipeline
    REFUSED = "refused"  # the pipeline could not run (paused, deleted, parked, busy): not a failure of it


__all__ = [
    "BATCHES_TAG",
    "FAILURE_KIND_TAG",
    "INBOX_MAX_ID_TAG",
    "LANE_TAG",
    "OUTCOME_TAG",
    "PIPELINE_TAG",
    "RECORDS_TAG",
    "TRIGGER_TAG",
    "Lane",
    "Outcome",
]
