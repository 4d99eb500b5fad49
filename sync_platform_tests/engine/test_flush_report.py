"""A flush report is read back exactly as a destination wrote it, and nothing else is taken for one."""

from __future__ import annotations

from sync_platform.engine.destination_kit import FlushReport
from sync_platform.protocol import LogLevel, log


def test_a_report_is_read_back_from_the_log_message_that_carries_it() -> None:
    report = FlushReport(stream="invoice", where="stripe.invoice", records=5, inserted=3, skipped_stale=2)
    message = report.to_log("postgres: flushed 5 records of 'invoice'")
    assert message.log.level == LogLevel.DEBUG
    assert FlushReport.from_log(message) == report
    assert report.counts() == {"inserted": 3, "updated": 0, "deleted": 0, "skipped_stale": 2}


def test_a_log_that_merely_mentions_counts_is_not_a_flush_report() -> None:
    lookalike = log(LogLevel.INFO, "wrote things", {"stream": "invoice", "inserted": 3, "updated": 1})
    malformed = log(LogLevel.DEBUG, "flushed", {"flush": {"stream": "invoice", "inserted": -1}})
    assert FlushReport.from_log(lookalike) is None
    assert FlushReport.from_log(malformed) is None
