"""What a new Stripe pipeline defaults to while a local stack (``make dev``) runs on the emulator.

Without ``base_url`` such a pipeline would call api.stripe.com with the emulator's key, and without
``webhook_url`` it would have no live lane. The dev stack knows both addresses, and every way of
creating a pipeline beside it (the CLI, the HTTP API, the console's form) applies the same rule
here: fields the user gave are kept; a ``base_url`` other than the emulator's, or ``poll_events``,
means the user chose otherwise and no webhook URL is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_platform.pipelines.model import PipelineCreate, generate_pipeline_id


@dataclass(frozen=True)
class LocalStackDefaults:
    """The local emulator's URL and, when it runs, the local webhook receiver's."""

    stripe_url: str
    receiver_url: str | None = None

    def apply(self, document: dict[str, Any]) -> None:
        """Fill a pipeline document in place (the wire shape: ``{"source": {"type": "stripe",
        "stripe": {…}}}``)."""
        source = document.get("source") or {}
        if source.get("type") != "stripe":
            return
        config = source.setdefault("stripe", {})
        config.setdefault("base_url", self.stripe_url)
        if config["base_url"] != self.stripe_url or config.get("poll_events") or not self.receiver_url:
            return
        document.setdefault("id", generate_pipeline_id())
        config.setdefault("webhook_url", f"{self.receiver_url}/webhooks/{document['id']}")

    def applied_to(self, request: PipelineCreate) -> PipelineCreate:
        """``request`` with the defaults filled in (a new, validated request; the original is kept)."""
        if request.source.type != "stripe":
            return request
        document = request.model_dump(mode="python", exclude_unset=True)
        document["source"] = {"type": "stripe", "stripe": dict(request.source.config)}
        self.apply(document)
        return PipelineCreate.model_validate(document)
