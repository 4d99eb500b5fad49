"""The demo, step by step, through the real platform: sensors decide, Dagster runs, a destination holds it.

1. A pipeline is created in the app database (Stripe -> PostgreSQL, or -> Google Sheets on the local
   Sheets API; webhooks to the local receiver).
2. The lifecycle sensor ticks: it adds the pipeline's partition (to its destination's asset family)
   and requests setup + backfill on that family's job.
3. That run materializes every stream asset of the partition (setup registers the webhook endpoint
   and, for Sheets, creates the spreadsheet; the backfill commits a checkpoint per batch), with a
   live per-stream progress table.
4. Objects change in Stripe; their signed webhooks reach the receiver, which stores them in the inbox.
5. The webhook inbox sensor ticks and requests a live run, which applies the changes.
6. The changed rows are read back from the destination (the table, or the spreadsheet tab).

Runs go to the Dagster instance under ``platform_home()/dagster``, so ``make dev`` shows them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from rich.console import Console

from sync_platform.cli.demo_destinations import (
    LABELS,
    DemoDestination,
    destination_config,
    read_names,
    where,
)
from sync_platform.cli.demo_report import BatchLine, StreamLine, batch_lines, stream_lines
from sync_platform.cli.local_stack import STRIPE_KEY_ENV, LocalStack
from sync_platform.cli.output import plural
from sync_platform.cli.progress import ProgressView
from sync_platform.defs.definitions import build_definitions
from sync_platform.defs.families import FAMILIES, POSTGRES
from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
from sync_platform.defs.sensors.inbox import INBOX_SENSOR
from sync_platform.defs.sensors.lifecycle import LIFECYCLE_SENSOR
from sync_platform.pipelines import CheckpointLane, PipelineCreate
from sync_platform.protocol import ProgressPayload

INBOX_WAIT_SECONDS = 60
DEMO_STATE_LIMIT = 10
"""Checkpoints per batch in the demo (100 by default): a small account then takes several batches,
each committed and observed on its own, which is what the per-batch checkpoints are there to show."""


@dataclass
class DemoOutcome:
    pipeline_id: str
    backfill_run: str
    destination: str = LABELS["postgres"]
    where: str = ""
    live_runs: list[str] = field(default_factory=list)
    streams: list[StreamLine] = field(default_factory=list)
    batches: list[BatchLine] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: float = 0.0


def demo_pipeline(
    stack: LocalStack, pipeline_id: str, destination: DemoDestination = "postgres"
) -> PipelineCreate:
    source: dict[str, Any] = {"api_key": {"env": STRIPE_KEY_ENV}}
    if stack.uses_emulator:
        source |= {"base_url": stack.stripe_base_url, "webhook_url": stack.webhook_url(pipeline_id)}
    else:
        source |= {"poll_events": True}  # Stripe cannot reach a receiver on 127.0.0.1
    return PipelineCreate.model_validate(
        {
            "id": pipeline_id,
            "source": {"type": "stripe", "stripe": source},
            "destination": destination_config(destination, stack, pipeline_id),
        }
    )


class Demo:
    """Runs the steps against a started stack, printing as it goes."""

    def __init__(
        self,
        stack: LocalStack,
        console: Console,
        *,
        instance: dg.DagsterInstance,
        destination: DemoDestination = "postgres",
    ) -> None:
        self.stack = stack
        self.console = console
        self.instance = instance
        self.destination = destination
        self.resources = {
            "pipelines": PipelineResource(app_db=AppDatabaseResource(url=stack.app_url)),
            "sync_engine": SyncEngineResource(),
        }
        self.definitions = build_definitions(resources=self.resources)

    def tick(self, sensor_name: str, cursor: str | None = None) -> dg.SensorExecutionData:
        with dg.build_sensor_context(
            instance=self.instance,
            instance_ref=self.instance.get_ref(),
            cursor=cursor,
            resources=self.resources,
            definitions=self.definitions,
        ) as context:
            data = self.definitions.resolve_sensor_def(sensor_name).evaluate_tick(context)
        for request in data.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(
                    request.partitions_def_name, list(request.partition_keys)
                )
        return data

    def execute(self, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """Run ``request`` as the daemon would: its assets, its checks (none for a live run)."""
        job_name = request.job_name or POSTGRES.job_name
        job = self.definitions.resolve_job_def(job_name)
        if request.asset_selection:
            checks = None if request.asset_check_keys is None else set(request.asset_check_keys)
            job = job.get_subset(asset_selection=set(request.asset_selection), asset_check_selection=checks)
        (family,) = [f for f in FAMILIES if f.job_name == job_name]
        return job.execute_in_process(
            run_config={
                "loggers": {"console": {"config": {"log_level": "ERROR"}}},
                "ops": {family.assets_name: {"config": {"state_limit": DEMO_STATE_LIMIT}}},
            },
            instance=self.instance,
            partition_key=request.partition_key,
            tags=dict(request.tags),
            raise_on_error=False,
        )

    def run(self, pipeline_id: str) -> DemoOutcome:
        started = time.monotonic()
        store = self.stack.store
        store.create(demo_pipeline(self.stack, pipeline_id, self.destination))
        label = LABELS[self.destination]
        self.console.print(f"[bold]1.[/] Created pipeline [cyan]{pipeline_id}[/]: Stripe -> {label}")

        lifecycle = self.tick(LIFECYCLE_SENSOR)
        (request,) = [r for r in lifecycle.run_requests or [] if r.partition_key == pipeline_id]
        self.console.print(
            "[bold]2.[/] pipeline_lifecycle_sensor added the partition and requested setup + backfill "
            f"on {request.job_name}"
        )
        self.console.print("[bold]3.[/] Materializing every stream asset of the partition through Dagster")
        backfill = self._with_progress(pipeline_id, lambda: self.execute(request))
        if not backfill.success:
            raise RuntimeError(f"The backfill run failed; see run {backfill.run_id} in the Dagster UI.")
        outcome = DemoOutcome(
            pipeline_id,
            backfill.run_id,
            destination=label,
            where=where(self.destination, self.stack, pipeline_id),
            streams=stream_lines(backfill),
            batches=batch_lines(backfill),
        )
        self.console.print(
            f"   The backfill committed {plural(len(outcome.batches), 'batch')} of up to {DEMO_STATE_LIMIT} "
            "checkpoints, each saved before the next began"
        )

        changes = self._change_objects()
        self.console.print(
            f"[bold]4.[/] Changed {len(changes)} objects in Stripe; waiting for their signed webhooks"
        )
        self._wait_for_inbox(pipeline_id, len(changes))
        inbox = self.tick(INBOX_SENSOR)
        live = [r for r in inbox.run_requests or [] if r.partition_key == pipeline_id]
        self.console.print(
            f"[bold]5.[/] webhook_inbox_sensor requested {plural(len(live), 'live run')}; running "
            + ("it" if len(live) == 1 else "them")
        )
        for live_request in live:
            result = self.execute(live_request)
            if not result.success:
                raise RuntimeError(f"The live run failed; see run {result.run_id} in the Dagster UI.")
            outcome.live_runs.append(result.run_id)
        outcome.changes = self._read_back(pipeline_id, changes)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _with_progress(
        self, pipeline_id: str, work: Callable[[], dg.ExecuteInProcessResult]
    ) -> dg.ExecuteInProcessResult:
        """Run ``work`` in a thread, showing the run's progress from its committed checkpoints."""
        box: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: box.update(result=work()), name="demo-run", daemon=True)
        thread.start()
        with ProgressView(title=f"backfill of {pipeline_id}", stream=self.console.file) as view:
            while thread.is_alive():
                thread.join(0.5)
                progress = _checkpoint_progress(self.stack, pipeline_id)
                if progress is not None:
                    view.update(progress)
            final = _checkpoint_progress(self.stack, pipeline_id)
            if final is not None:
                view.update(final)
        return box["result"]

    def _change_objects(self) -> list[tuple[str, str, str]]:
        """Rename a few customers and delete one; returns (stream, id, expected) per change."""
        emulator = self.stack.emulator
        if emulator is None:
            return []
        _wait_for_the_next_second()
        customers = emulator.objects("customer")[:4]
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        changes: list[tuple[str, str, str]] = []
        for customer in customers[:3]:
            name = f"Renamed by the demo at {stamp}"
            emulator.update("customer", customer["id"], {"name": name})
            changes.append(("customer", customer["id"], name))
        if len(customers) == 4:
            emulator.delete("customer", customers[3]["id"])
            changes.append(("customer", customers[3]["id"], "(deleted)"))
        emulator.wait_for_deliveries()
        return changes

    def _wait_for_inbox(self, pipeline_id: str, expected: int) -> None:
        deadline = time.monotonic() + INBOX_WAIT_SECONDS
        while self.stack.store.count_pending_inbox(pipeline_id) < expected and time.monotonic() < deadline:
            time.sleep(0.2)

    def _read_back(self, pipeline_id: str, changes: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        """What the destination now holds for each changed object (its table row, or its tab row)."""
        landed = []
        for stream in sorted({stream for stream, _, _ in changes}):
            ids = [object_id for changed, object_id, _ in changes if changed == stream]
            names = read_names(self.destination, self.stack, pipeline_id, stream, ids)
            landed += [(stream, i, "(deleted)" if names[i] is None else str(names[i])) for i in ids]
        return landed


def _wait_for_the_next_second() -> None:
    """Let the wall clock pass into a new second before changing anything in Stripe.

    Versions have one-second resolution: an object without ``updated`` is versioned by the time
    its page was listed, and a change by its event's ``created``. A change made in the very second
    the backfill listed its object ties with it, and a tie is not a newer version (Google Sheets
    keeps the row it has), so the change might not show. Waiting (under a second) makes every
    change strictly newer.
    """
    time.sleep(math.floor(time.time()) + 1 - time.time())


def _checkpoint_progress(stack: LocalStack, pipeline_id: str) -> ProgressPayload | None:
    state = stack.store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    progress = ((state or {}).get("sync_run") or {}).get("progress")
    return ProgressPayload.model_validate(progress) if progress else None
