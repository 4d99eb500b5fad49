"""The teardown lane: remove what setup created for a deleted pipeline, then record it torn down.

The connectors' ``teardown`` deletes the managed webhook endpoint and the destination's tables or
tabs, so deleting a pipeline leaks nothing (reference bug #9). A teardown that fails is recorded and
retried like any lane; after too many failures in a row the pipeline shows ``teardown_failed``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from sync_platform.engine import blocking
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.runner.events import EngineMessage, LaneFinished, RunEvent, StatusChanged
from sync_platform.pipelines.states import PipelineStatus
from sync_platform.protocol import LogMessage

if TYPE_CHECKING:
    from sync_platform.pipelines.runner.lane_run import LaneRun


def teardown(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
    if pipeline.torn_down_at is not None:
        yield LaneFinished(run.lane, True, "already torn down")
        return
    pipeline = yield from run.move(pipeline, PipelineStatus.TEARDOWN)
    config = run.store.resolve_secrets(pipeline)
    for message in blocking.iterate(lambda: run.engine.teardown(config)):
        if isinstance(message, LogMessage):
            yield EngineMessage(run.lane, 0, message)
    before = run.store.get(run.pipeline_id)
    done = run.store.mark_torn_down(run.pipeline_id)
    yield StatusChanged(before.display_status, done.display_status, done)
    yield LaneFinished(run.lane, True, "torn down")
