"""NDJSON framing: one message per line, read and written as a stream so memory stays flat."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from sync_platform.protocol.errors import ProtocolError
from sync_platform.protocol.messages import Message, message_adapter


def parse_message(value: Any, *, line: int | None = None) -> Message:
    """Validate one decoded JSON object as a message; errors name the line when one is given."""
    try:
        return message_adapter.validate_python(value)
    except ValidationError as error:
        raise ProtocolError(_describe(error), line=line) from None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"invalid message: {first['msg']}" + (f" at {location}" if location else "")


def _parse_line(raw: str | bytes, number: int) -> Message | None:
    text = raw.decode() if isinstance(raw, bytes | bytearray) else raw
    text = text.strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"not valid JSON ({error.msg} at column {error.colno})", line=number) from None
    return parse_message(value, line=number)


def iter_messages(lines: Iterable[str | bytes]) -> Iterator[Message]:
    """Parse messages from an iterable of lines (a file object works); blank lines are skipped."""
    for number, raw in enumerate(lines, start=1):
        message = _parse_line(raw, number)
        if message is not None:
            yield message


async def aiter_messages(chunks: AsyncIterable[str | bytes]) -> AsyncIterator[Message]:
    """Parse messages from arbitrary chunks (network reads), splitting on newlines across chunks.

    A last line without a trailing newline is still parsed when the input ends.
    """
    buffer = b""
    number = 0
    async for chunk in chunks:
        buffer += chunk.encode() if isinstance(chunk, str) else chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            number += 1
            message = _parse_line(raw, number)
            if message is not None:
                yield message
    if buffer.strip():
        message = _parse_line(buffer, number + 1)
        if message is not None:
            yield message


def dump_message(message: BaseModel) -> str:
    """One message as one NDJSON line, newline included."""
    return message.model_dump_json(by_alias=True, exclude_none=True) + "\n"


def write_messages(stream: IO[str], messages: Iterable[BaseModel]) -> int:
    """Write messages one line at a time, flushing each so a reader sees them live; returns the count."""
    count = 0
    for message in messages:
        stream.write(dump_message(message))
        stream.flush()
        count += 1
    return count
