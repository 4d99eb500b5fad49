"""Shows a sync's progress: a live per-stream table on a terminal, plain lines otherwise.

Log records go through the same console (``console.log``) so they print above the live table
instead of tearing it, as rich's own downloader example does.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from sync_platform.cli.output import plural
from sync_platform.protocol import EofPayload, ProgressPayload, StreamProgress, StreamRunStatus
from sync_platform.redaction import redact

_STATUS_STYLE = {
    StreamRunStatus.NOT_STARTED: "dim",
    StreamRunStatus.STARTED: "cyan",
    StreamRunStatus.COMPLETED: "green",
    StreamRunStatus.SKIPPED: "yellow",
    StreamRunStatus.ERRORED: "bold red",
}
PLAIN_SUMMARY_EVERY_SECONDS = 5.0


def _rate(count: int, elapsed_ms: int) -> float:
    return count / (elapsed_ms / 1000) if elapsed_ms > 0 else 0.0


def _ranges(stream: StreamProgress) -> str:
    if not stream.completed_ranges:
        return ""
    spans = [f"{r.gte:%Y-%m-%d}→{r.lt:%Y-%m-%d}" for r in stream.completed_ranges[:2]]
    more = len(stream.completed_ranges) - len(spans)
    return ", ".join(spans) + (f" (+{more})" if more > 0 else "")


def progress_table(progress: ProgressPayload, title: str | None = None) -> Table:
    """One row per stream (records, rate, checkpoints, completed ranges) and a totals row."""
    table = Table(title=title, expand=False, show_footer=True)
    derived = progress.derived
    table.add_column("stream", footer="total")
    table.add_column("status", footer=derived.status.value)
    table.add_column("records", justify="right", footer=f"{derived.total_record_count:,}")
    table.add_column("records/s", justify="right", footer=f"{derived.records_per_second:,.0f}")
    table.add_column("checkpoints", justify="right", footer=f"{derived.total_state_count:,}")
    table.add_column("completed ranges")
    table.add_column("message", overflow="fold", max_width=60)
    for name, stream in sorted(progress.streams.items()):
        table.add_row(
            name,
            f"[{_STATUS_STYLE[stream.status]}]{stream.status.value}[/]",
            f"{stream.record_count:,}",
            f"{_rate(stream.record_count, progress.elapsed_ms):,.0f}",
            f"{stream.state_count:,}",
            _ranges(stream),
            redact(stream.message or ""),
        )
    return table


class ProgressView:
    """Context manager: ``update`` with each progress snapshot, ``finish`` with the eof."""

    def __init__(
        self, *, title: str = "sync", live: bool | None = None, stream: IO[str] | None = None
    ) -> None:
        self.console = Console(file=stream or sys.stderr, highlight=False, log_path=False)
        self.live_mode = self.console.is_terminal if live is None else live
        self.console.soft_wrap = not self.live_mode  # plain lines stay whole lines, for logs and grep
        self.title = title
        self._live: Live | None = None
        self._statuses: dict[str, StreamRunStatus] = {}
        self._last_summary = time.monotonic()
        self._latest: ProgressPayload | None = None

    def __enter__(self) -> ProgressView:
        if self.live_mode:
            self._live = Live(console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, error, trace)
            self._live = None

    def log(self, message: str) -> None:
        self.console.log(redact(message)) if self.live_mode else self.console.print(redact(message))

    def update(self, progress: ProgressPayload) -> None:
        self._latest = progress
        if self._live is not None:
            self._live.update(progress_table(progress, self.title))
            return
        for name, stream in sorted(progress.streams.items()):
            if self._statuses.get(name) != stream.status:
                self._statuses[name] = stream.status
                if stream.status is not StreamRunStatus.NOT_STARTED:
                    detail = f" ({redact(stream.message)})" if stream.message else ""
                    self.console.print(
                        f"{name}: {stream.status.value}, {plural(stream.record_count, 'record')}{detail}"
                    )
        now = time.monotonic()
        if now - self._last_summary >= PLAIN_SUMMARY_EVERY_SECONDS:
            self._last_summary = now
            derived = progress.derived
            self.console.print(
                f"progress: {plural(derived.total_record_count, 'record')}, "
                f"{derived.records_per_second:,.0f} records/s, "
                f"{plural(derived.total_state_count, 'checkpoint')}"
            )

    def finish(self, eof: EofPayload) -> None:
        """Show the final table (or per-stream lines) and the ``Final status`` line."""
        self.update(eof.run_progress)
        if self._live is not None:
            self._live.update(progress_table(eof.run_progress, self.title))
        derived = eof.run_progress.derived
        seconds = eof.run_progress.elapsed_ms / 1000
        more = " — more to do: run again to continue" if eof.has_more else ""
        error = f" — {redact(eof.error)}" if eof.error else ""
        self.console.print(
            f"Final status: {eof.status.value} "
            f"({plural(derived.total_record_count, 'record')} in {seconds:,.1f} s, "
            f"{derived.records_per_second:,.0f} records/s){more}{error}"
        )
