"""The conformance suite's harness: what a destination under test provides, and the suite's records.

``ConformanceTarget`` is what a destination's test module supplies; ``Harness`` sets the destination
up with the suite's two streams and runs ``write`` over a list of messages; the rest build versions
and read what came back. The cases themselves are in ``conformance``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sync_platform.engine.connectors import Destination
from sync_platform.engine.destination_kit.versions import winner
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    ControlMessage,
    DestinationConfigControl,
    GlobalStatePayload,
    Message,
    RecordMessage,
    SourceStateMessage,
    Stream,
    StreamError,
    StreamStatusMessage,
    record,
)

ACCOUNT = "acct_conformance"
A, B = "conformance_a", "conformance_b"
"""Two streams with the same schema: a case can replay the same versions in two orders, one per stream."""
PROPERTIES: dict[str, Any] = {
    "id": {"type": "string"},
    "object": {"type": "string"},
    "tag": {"type": "string", "description": "Which version this is (the suite's label)."},
    "note": {"type": ["string", "null"]},
    "metadata": {"type": ["object", "null"]},
    "_account_id": {"type": "string"},
    "_updated_at": {"type": "integer", "format": "unix-time"},
}
T0 = 1_700_000_000
HOSTILE_TEXT = [
    "=1+1",
    "+x",
    "-x",
    "@x",
    '=HYPERLINK("http://example.com";"click")',
    "'; DROP TABLE conformance_a; --",
    "Robert'); DROP TABLE students;--",
    "quote \" and ' apostrophe",
    "\\N",
    "back\\slash\\n and a real\nnewline\tand tab",
    "naïve café ☃ 𝄞 中文 العربية",
    "NUL \u0000 inside",
    "",
    "x" * 60_000,
]
HOSTILE_IDS = ["=1+1", "+x", "-x", "@x", "'; DROP TABLE x; --", 'quo"te', "naïve ☃ 𝄞", "tab\there"]
HOSTILE_METADATA = {'k"ey': 'v"al', "=x": "+y", "nested": {"'": ["\\", "𝄞"]}}

Rows = dict[str, dict[str, Any]]
"""A stream's stored rows by id (the suite writes one account only)."""


def _identity(text: str) -> str:
    return text


@dataclass
class ConformanceTarget:
    """What the suite needs from a destination under test."""

    destination: Destination
    config: dict[str, Any]
    """Where to write: a fresh, empty place for each test. ``setup`` may replace it (a
    ``destination_config`` control message), and the suite then uses the replacement."""
    read_rows: Callable[[dict[str, Any], str], list[dict[str, Any]]]
    """Every row the destination holds for a stream, as ``{field: value}``: at least ``id``,
    ``_account_id``, ``tag``, ``note`` and ``metadata`` of the suite's records, text as ``str`` and
    objects as ``dict``. Blocking; called outside any event loop or in a worker thread."""
    stored_text: Callable[[str], str] = _identity
    """What the destination documents storing for a text value (a repair, a length limit)."""
    failing: Callable[[dict[str, Any], str], AbstractContextManager[Any]] | None = None
    """While inside, the next flush carrying the stream fails for real (a server-side error); None
    skips the case that needs it."""
    streams: tuple[str, ...] = (A, B)


@dataclass
class Harness:
    """One test's destination, set up with the suite's catalog."""

    target: ConformanceTarget
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.catalog = ConfiguredCatalog(
            streams=[ConfiguredStream(stream=suite_stream(name)) for name in self.target.streams]
        )
        self.config = dict(self.target.config)
        for message in asyncio.run(collect(self.target.destination.setup(self.config, self.catalog))):
            if isinstance(message, ControlMessage) and isinstance(message.control, DestinationConfigControl):
                self.config = dict(message.control.destination_config)

    def write(self, messages: Iterable[Message]) -> list[Message]:
        """Everything one ``write`` yields for ``messages``."""
        return asyncio.run(collect(self.target.destination.write(self.config, self.catalog, feed(messages))))

    def rows(self, stream: str) -> Rows:
        rows = self.target.read_rows(self.config, stream)
        assert all(row.get("_account_id") == ACCOUNT for row in rows), "rows of another account appeared"
        by_id = {str(row["id"]): row for row in rows}
        assert len(by_id) == len(rows), f"{stream}: a key is stored twice"
        return by_id

    def tags(self, stream: str) -> dict[str, str]:
        return {key: row["tag"] for key, row in self.rows(stream).items()}


def suite_stream(name: str) -> Stream:
    return Stream(
        name=name,
        primary_key=[["id"], ["_account_id"]],
        json_schema={
            "type": "object",
            "properties": PROPERTIES,
            "required": ["id", "_account_id", "_updated_at"],
        },
        newer_than_field="_updated_at",
    )


def live(stream: str, key: str, at: float, tag: str, **fields: Any) -> RecordMessage:
    """A live version of object ``key`` at source time ``at`` (unix seconds)."""
    data = {"id": key, "object": "thing", "tag": tag, "_account_id": ACCOUNT, "_updated_at": at, **fields}
    return record(stream, data)


def gone(stream: str, key: str, at: float) -> RecordMessage:
    """A tombstone of object ``key`` at source time ``at``, shaped as Stripe's deleted objects are."""
    return record(
        stream, {"id": key, "object": "thing", "_account_id": ACCOUNT, "_updated_at": at}, deleted=True
    )


def expected(versions: Sequence[RecordMessage]) -> dict[str, str]:
    """``id -> tag`` the kit's order promises for these versions (of any ids, in any order)."""
    by_key: dict[str, list[RecordMessage]] = {}
    for message in versions:
        by_key.setdefault(message.record.data["id"], []).append(message)
    kept = {key: winner([m.record for m in found], "_updated_at") for key, found in by_key.items()}
    return {key: payload.data["tag"] for key, payload in kept.items() if not payload.record_deleted}


def states(output: list[Message]) -> list[Any]:
    """Each re-emitted state: its stream's name and data, or ``("global", data)``."""
    found = []
    for message in output:
        if isinstance(message, SourceStateMessage):
            payload = message.source_state
            name = "global" if isinstance(payload, GlobalStatePayload) else payload.stream
            found.append((name, payload.data))
    return found


def errors(output: list[Message]) -> list[StreamError]:
    return [
        m.stream_status
        for m in output
        if isinstance(m, StreamStatusMessage) and isinstance(m.stream_status, StreamError)
    ]


def _identity_of(message: RecordMessage) -> tuple[str, str, bool]:
    data = json.dumps(message.record.data, sort_keys=True, default=str)
    return message.record.stream, data, bool(message.record.record_deleted)


def assert_fenced(sent: Sequence[Message], output: Sequence[Message]) -> None:
    """Every re-emitted state comes after the echo of every record before it in the input: of its
    stream, or of every stream for a global state."""
    echoed: list[tuple[str, str, bool]] = []
    for message in output:
        if isinstance(message, RecordMessage):
            echoed.append(_identity_of(message))
        elif isinstance(message, SourceStateMessage):
            payload = message.source_state
            position = next(i for i, m in enumerate(sent) if m is message or m == message)
            before = [m for m in sent[:position] if isinstance(m, RecordMessage)]
            if not isinstance(payload, GlobalStatePayload):
                before = [m for m in before if m.record.stream == payload.stream]
            missing = [_identity_of(m) for m in before if _identity_of(m) not in echoed]
            assert not missing, f"a state came back before its records were: {missing[:3]}"


async def feed(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


async def collect(messages: AsyncIterator[Message]) -> list[Message]:
    return [message async for message in messages]


class SourceCrash(RuntimeError):
    """What the suite's crashing source raises."""


def on_stream(stream: str, message: RecordMessage) -> RecordMessage:
    """The same version, sent on ``stream``."""
    return record(stream, message.record.data, deleted=bool(message.record.record_deleted))
