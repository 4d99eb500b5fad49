"""A pipeline's recent runs, whoever started them: Dagster's runs and the runs recorded by the
platform (the CLI, the API, the console), newest first. Both the API and the console read it here."""

from __future__ import annotations

import logging

from sync_platform.pipelines.run_log import RunRecord, merge_runs
from sync_platform.redaction import redact
from sync_platform.service.services import Services

logger = logging.getLogger(__name__)


def recent_runs(services: Services, pipeline_id: str, limit: int) -> tuple[list[RunRecord], str]:
    """The runs, and whether Dagster's were included: ``available``, ``unavailable`` (its instance
    could not be read; the recorded runs are still shown) or ``off`` (none configured)."""
    histories = [services.run_log.recent_runs(pipeline_id, limit)]
    dagster = "off"
    if services.dagster_runs is not None:
        try:
            histories.append(services.dagster_runs.recent_runs(pipeline_id, limit))
            dagster = "available"
        except Exception as error:
            logger.warning("could not read Dagster's runs: %s", redact(f"{type(error).__name__}: {error}"))
            dagster = "unavailable"
    return merge_runs(histories, limit), dagster
