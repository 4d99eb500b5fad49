"""What the webhook receiver needs to know about a pipeline for one request, from one row read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.lifecycle import Lanes, Lifecycle, lanes_for, live_intake
from sync_platform.pipelines.states import DesiredStatus, PipelineError, PipelineStatus
from sync_platform.protocol import ConnectorConfig


@dataclass(frozen=True)
class WebhookTarget:
    """A pipeline as the receiver sees it: may it take events, and the secrets to verify them.

    ``accepts_events`` is the ``webhook_intake`` lane: true while the pipeline is active or paused
    (events are kept while paused and applied on resume), false once it is deleted or when its
    source has no webhook secret. ``secrets`` are revealed only when events are accepted, and hold
    every secret valid during a rotation; a signature matching any of them is genuine.
    """

    pipeline_id: str
    source_type: str
    desired_status: DesiredStatus
    status: PipelineStatus
    lanes: Lanes
    secrets: tuple[SecretStr, ...] = field(repr=False)

    @property
    def accepts_events(self) -> bool:
        return self.lanes.webhook_intake

    @classmethod
    def from_row(cls, row: dict[str, Any], configs: ConnectorConfigs) -> WebhookTarget:
        source = ConnectorConfig.model_validate(row["source"])
        state = Lifecycle(
            desired_status=DesiredStatus(row["desired_status"]),
            status=PipelineStatus(row["status"]),
            error=None if row["error"] is None else PipelineError.model_validate(row["error"]),
            resume_status=None if row["resume_status"] is None else PipelineStatus(row["resume_status"]),
            torn_down=row["torn_down_at"] is not None,
        )
        lanes = lanes_for(state, live_intake(source))
        return cls(
            pipeline_id=row["id"],
            source_type=source.type,
            desired_status=state.desired_status,
            status=state.status,
            lanes=lanes,
            secrets=configs.webhook_secrets(source) if lanes.webhook_intake else (),
        )
