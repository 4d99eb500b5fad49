"""The receiver with its target cache on: a burst for one pipeline reads and decrypts its row once."""

from __future__ import annotations

import pytest

from sync_platform.pipelines import PipelineStore
from sync_platform.webhooks import ReceiverSettings
from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET
from sync_platform_tests.webhooks.conftest import Receiver
from sync_platform_tests.webhooks.stripe_webhooks import create_pipeline, stripe_event


@pytest.fixture
def receiver_settings() -> ReceiverSettings:
    return ReceiverSettings(target_ttl_seconds=60)


def test_a_burst_for_one_pipeline_reads_its_row_once(
    receiver: Receiver, pipeline_store: PipelineStore
) -> None:
    create_pipeline(pipeline_store, "shop", webhook_secret=WEBHOOK_SECRET)

    statuses = [receiver.deliver("shop", stripe_event(f"evt_{n}")).status_code for n in range(20)]

    assert statuses == [200] * 20
    assert pipeline_store.count_pending_inbox("shop") == 20
    assert receiver.targets.loads == 1


def test_an_event_for_a_pipeline_purged_since_it_was_cached_is_a_404(
    receiver: Receiver, pipeline_store: PipelineStore
) -> None:
    create_pipeline(pipeline_store, "shop", webhook_secret=WEBHOOK_SECRET)
    assert receiver.deliver("shop", stripe_event("evt_1")).status_code == 200
    pipeline_store.purge("shop", force=True)

    response = receiver.deliver("shop", stripe_event("evt_2"))

    assert response.status_code == 404
    assert receiver.targets.loads == 1  # the insert found it gone; the cache forgot it
    assert receiver.deliver("shop", stripe_event("evt_3")).status_code == 404
    assert receiver.targets.loads == 2
