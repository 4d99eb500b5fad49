"""NDJSON framing: line by line, blank lines skipped, errors name the line."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest

from sync_platform.protocol import ProtocolError, aiter_messages, iter_messages, log, write_messages

LINES = [
    '{"type":"log","log":{"level":"info","message":"one"}}\n',
    "\n",
    '{"type":"log","log":{"level":"info","message":"two"}}',
]


def test_iter_messages_reads_a_file_line_by_line_and_skips_blank_lines() -> None:
    messages = list(iter_messages(io.StringIO("".join(LINES[:2]) + LINES[2] + "\n")))
    assert [m.log.message for m in messages] == ["one", "two"]  # type: ignore[union-attr]


def test_a_malformed_line_is_an_error_naming_its_line_number() -> None:
    source = io.StringIO(LINES[0] + LINES[1] + "{not json}\n")
    with pytest.raises(ProtocolError, match=r"^line 3: not valid JSON"):
        list(iter_messages(source))


def test_an_invalid_message_is_an_error_naming_its_line_number() -> None:
    with pytest.raises(ProtocolError, match=r"^line 2: invalid message"):
        list(iter_messages([LINES[0], '{"type":"record","record":{"stream":"s"}}']))


def test_iter_messages_is_lazy() -> None:
    """A bad line far down does not stop earlier messages from being consumed first."""
    iterator = iter_messages([LINES[0], "garbage"])
    assert next(iterator).log.message == "one"  # type: ignore[union-attr]
    with pytest.raises(ProtocolError):
        next(iterator)


def test_aiter_messages_splits_lines_across_arbitrary_chunks_and_parses_a_last_unterminated_line() -> None:
    text = "".join(LINES).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(text), 7):
            yield text[start : start + 7]

    async def collect() -> list[str]:
        return [m.log.message async for m in aiter_messages(chunks())]  # type: ignore[union-attr]

    assert asyncio.run(collect()) == ["one", "two"]


def test_write_messages_writes_one_line_per_message() -> None:
    out = io.StringIO()
    assert write_messages(out, [log("info", "a"), log("warn", "b")]) == 2
    assert [m.log.message for m in iter_messages(io.StringIO(out.getvalue()))] == ["a", "b"]  # type: ignore[union-attr]
