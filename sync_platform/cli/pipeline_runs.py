"""Runs a stored pipeline from the CLI: the pipeline runner's lanes, shown in the terminal.

``sync <id>`` and ``sync-batch <id>`` both call ``PipelineRunner.run`` (the same code Dagster runs)
and only present its events: a live per-stream table (or plain lines), one line per committed
batch and per status change, and the failure the runner recorded. What the run does (setup, which
lanes, checkpoints saved as pages commit, status moves, parking on failures, one run per pipeline)
is the runner's; nothing here decides any of it. A run is recorded in the pipeline's run history
(it is not a Dagster run); with ``--remote`` the service runs it and streams the same events back.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Literal

import click

from sync_platform.cli.context import CliContext
from sync_platform.cli.output import plural, print_json
from sync_platform.cli.progress import ProgressView
from sync_platform.pipelines.run_log import RunLog, RunOrigin, recorded
from sync_platform.pipelines.runner import (
    AccountsPurged,
    BatchCommitted,
    ControlApplied,
    EngineMessage,
    Housekept,
    Lane,
    LaneFinished,
    LaneStarted,
    PipelineRunner,
    Retention,
    RunEvent,
    RunFailed,
    RunOptions,
    SetupRan,
    StatusChanged,
)
from sync_platform.protocol import (
    EofMessage,
    EofPayload,
    LogMessage,
    ProgressMessage,
    RunStatus,
    dump_message,
)
from sync_platform.redaction import redact

Raw = Literal["messages", "batches"] | None


def cli_holder(command: str) -> str:
    """How a CLI run is named in run locks and recorded errors."""
    return f"sync-platform {command} (pid {os.getpid()} on {socket.gethostname()})"


def batch_summary(lane: Lane, number: int, eof: EofPayload, applied: int = 0) -> str:
    """``backfill batch 3: 200 records, 2 checkpoints (run: 600 records) — checkpoint saved, more to do``."""
    request, run = eof.request_progress.derived, eof.run_progress.derived
    if eof.status is RunStatus.FAILED:
        tail = f"failed: {eof.error or 'see the log'}"
    else:
        tail = "more to do" if eof.has_more else "done"
    events = f", {plural(applied, 'webhook event')} applied" if applied else ""
    return (
        f"{lane.value} batch {number}: {plural(request.total_record_count, 'record')}, "
        f"{plural(request.total_state_count, 'checkpoint')}{events} "
        f"(run: {plural(run.total_record_count, 'record')}) — checkpoint saved, {tail}"
    )


@dataclass
class RunOutcome:
    """How the run ended, for the command's exit code and ``--json`` output.

    ``last_eof`` is the last batch's eof without its ``ending_state`` unless ``keep_ending_state``
    (``sync --json`` prints the eof whole): the summary needs its status and progress, and the
    state is the whole checkpoint (a Connect platform's: an entry per account and stream), which
    kept here stayed alive next to the next batch's own and the run's last status move.
    """

    last_eof: EofPayload | None = None
    failed: RunFailed | None = None
    keep_ending_state: bool = False


def run_stored_pipeline(
    cli_ctx: CliContext,
    pipeline_id: str,
    *,
    command: str,
    lanes: Sequence[Lane] | None,
    options: RunOptions,
    raw: Raw,
    keep_ending_state: bool = False,
) -> RunOutcome:
    """Run the pipeline's lanes through the runner, presenting every event; never raises for a
    failed lane (it is in the outcome, recorded on the pipeline) but does for a refused run.
    ``keep_ending_state``: the outcome's last eof keeps its ending state (see ``RunOutcome``)."""
    quiet = cli_ctx.json_output or raw is not None
    remote = cli_ctx.remote()
    if remote is not None:  # the service's own retention settings apply there
        events = remote.run(pipeline_id, lanes, options)
    else:
        options = replace(options, retention=Retention.from_environ(cli_ctx.env))
        holder = cli_holder(command)
        runner = PipelineRunner(cli_ctx.store(), cli_ctx.engine(), holder=holder)
        run = runner.run(pipeline_id, lanes, options)
        log = RunLog(cli_ctx.store())
        events = recorded(run, log, pipeline_id, origin=RunOrigin.CLI, holder=holder)
    outcome = RunOutcome(keep_ending_state=keep_ending_state)
    with ProgressView(title=pipeline_id, live=False if quiet else None) as view:
        with closing(events):
            for event in events:
                _present(event, view, raw=raw, quiet=quiet, outcome=outcome)
        if outcome.last_eof is not None and not quiet:
            view.finish(outcome.last_eof)
    if outcome.failed is not None:
        click.echo(f"Error: {redact(outcome.failed.error.summary())}", err=True)
    return outcome


def _present(event: RunEvent, view: ProgressView, *, raw: Raw, quiet: bool, outcome: RunOutcome) -> None:
    say = (lambda _: None) if quiet else view.log
    match event:
        case EngineMessage(message=message):
            if raw == "messages":
                sys.stdout.write(dump_message(message))
                sys.stdout.flush()
            elif isinstance(message, ProgressMessage) and not quiet:
                view.update(message.progress)
            elif isinstance(message, LogMessage) and message.log.level in ("warn", "error"):
                say(f"[{message.log.level}] {message.emitted_by}: {message.log.message}")
        case BatchCommitted(lane=lane, number=number, eof=eof, events_applied=applied):
            keep = outcome.keep_ending_state or eof.ending_state is None
            outcome.last_eof = eof if keep else eof.model_copy(update={"ending_state": None})
            if raw == "messages":
                sys.stdout.write(dump_message(EofMessage(eof=eof)))
                sys.stdout.flush()
            elif raw == "batches":
                print_json(eof.to_wire(), indent=None)
            else:
                view.update(eof.run_progress)
                say(batch_summary(lane, number, eof, applied))
        case LaneStarted(lane=lane):
            say(f"{lane.value} lane of {event.pipeline.id} ({event.pipeline.display_status.value})")
        case LaneFinished(lane=lane, reason=reason):
            say(f"{lane.value} lane: {reason}")
        case StatusChanged(before=before, after=after):
            say(f"status: {before.value} → {after.value}")
        case SetupRan(pipeline=pipeline):
            say(f"set up {pipeline.source.type} → {pipeline.destination.type}")
        case ControlApplied(side=side):
            say(f"stored the {side} connector's new config")
        case Housekept(inbox_rows=rows, tombstones=tombstones):
            kept = "" if tombstones is None else f", {tombstones} tombstone(s)"
            say(f"retention: pruned {rows} applied webhook event(s){kept}")
        case AccountsPurged():
            say(event.summary())
        case RunFailed():
            outcome.failed = event
