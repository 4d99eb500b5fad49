"""The receiver's JSON log lines: one object per record, fields kept, secrets masked."""

from __future__ import annotations

import io
import json
import logging

from sync_platform.webhooks import JsonLogFormatter, configure_json_logging


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    line = logging.LogRecord("sync_platform.webhooks.app", logging.INFO, __file__, 1, message, args, None)
    line.__dict__.update(extra)
    return line


def test_a_line_has_time_level_logger_message_and_the_extra_fields() -> None:
    line = json.loads(
        JsonLogFormatter().format(
            record("webhook %s", "accepted", pipeline_id="shop", status=200, duration_ms=1.5)
        )
    )

    assert line["level"] == "info"
    assert line["logger"] == "sync_platform.webhooks.app"
    assert line["message"] == "webhook accepted"
    assert (line["pipeline_id"], line["status"], line["duration_ms"]) == ("shop", 200, 1.5)
    assert line["ts"].endswith("+00:00")


def test_secrets_are_masked_in_the_message_fields_and_nested_values() -> None:
    key, signing = "sk_live_" + "abcdefghijklmnop1234", "whsec_" + "abcdefghijklmnopqrstu"
    line = JsonLogFormatter().format(
        record(
            "rejected %s",
            key,
            error=f"bad {signing}",
            headers={"authorization": f"Bearer {key}"},
            urls=["postgresql://app:hunter2@db/x"],
        )
    )

    assert key not in line
    assert signing not in line
    assert "hunter2" not in line
    assert json.loads(line)["urls"] == ["postgresql://app:***@db/x"]


def test_a_traceback_is_one_redacted_field() -> None:
    key = "sk_test_" + "abcdefghijklmnop1234"  # built here so the traceback's source line cannot show it
    try:
        raise RuntimeError(f"could not use {key}")
    except RuntimeError:
        line = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, __import__("sys").exc_info()
        )

    parsed = json.loads(JsonLogFormatter().format(line))

    assert "RuntimeError" in parsed["exception"]
    assert "sk_test_***" in parsed["exception"]
    assert "abcdefghijklmnop1234" not in parsed["exception"]


def test_configure_json_logging_writes_one_object_per_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_json_logging(stream=stream)
        logging.getLogger("sync_platform.webhooks.app").info("one", extra={"event_id": "evt_1"})
        logging.getLogger("uvicorn.error").warning("two")
    finally:
        root.handlers, root.level = handlers, level

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["message"], line.get("event_id")) for line in lines] == [("one", "evt_1"), ("two", None)]
