"""A stream checkpoint captured now and written out only where someone reads it.

A source checkpoints after every page, and the engine commits one checkpoint in ten or fewer of a
stream that reads small pages (``engine.state_coalescing`` holds each one back and replaces it with
the next). For most sources a checkpoint is a small dict, and building one that is dropped costs
nothing worth saving. A Stripe Connect stream's checkpoint names every account (10,000 accounts:
a 10,000-entry dict and a 10,000-item list), so building it for every page and dropping nine in
ten was a fifth of the client's CPU. Such a source hands the engine a ``DeferredStateData``
instead: a snapshot of what the checkpoint will say, cheap to take and immutable (~10 KB at
10,000 accounts, where the written-out checkpoint is ~0.3 MB), and it is written out only where
it is read.

The contract:

- ``render()`` returns the checkpoint's JSON data exactly as the source would have emitted it at
  the moment it took the snapshot, however far the source has read since, and a new object each
  call (nothing the source will write to).
- Serialized by pydantic (``model_dump``, ``model_dump_json``, ``to_wire``, ``pydantic_core.to_json``)
  a snapshot is its rendering, so a message or ``SyncState`` holding one writes out like the
  rendered one: a destination that sends messages to another process, a checkpoint save, the HTTP
  API's run stream.
- The engine keeps a snapshot as it is through the destination, in the folded ``SyncState``
  (the state a checkpoint writer is handed and saves, one stream's rendering at a time) and in
  the state messages a sync yields, and renders the eof's ``ending_state``
  (``rendered_stream_states``), which the next batch and every caller read as data. Whoever reads
  a yielded state's data as Python objects calls ``rendered_data`` (or ``rendered_state`` on the
  message): Dagster's reporting does, for the cursor it shows. Most readers never do: the command
  line shows counts and writes messages out as JSON, and the HTTP API serializes them. At 10,000
  accounts the engine commits a Connect stream's checkpoint four times a second, and writing out
  each one it yielded was ~6 % of the client's CPU at 100 requests/s, for nothing
  (``benchmarks/connect.py``, side by side: 1.09 -> 1.02 ms per request).

Keeping the fold's checkpoints as snapshots is what keeps a Connect platform's memory from
growing as its accounts finish: rendered, the fold's state and the one a save was writing held
each stream's whole ``accounts`` dict (~2 MB a set at 10,000 accounts and ten streams, growing
from nothing as lanes finished).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, TypeVar

from pydantic_core import SchemaSerializer, core_schema

from sync_platform.protocol.messages import Message, SourceStateMessage, StreamStatePayload
from sync_platform.protocol.state import SyncState

M = TypeVar("M", bound=Message)


def _render(data: DeferredStateData) -> Any:
    return data.render()


class DeferredStateData(ABC):
    """A stream state's data as a snapshot; ``render`` writes it out (see the module docstring)."""

    __slots__ = ()

    # pydantic-core serializes a value of an ``Any`` field that carries a ``__pydantic_serializer__``
    # with that serializer: here, as the rendering, in Python and JSON modes alike.
    __pydantic_serializer__ = SchemaSerializer(
        core_schema.any_schema(serialization=core_schema.plain_serializer_function_ser_schema(_render))
    )

    @abstractmethod
    def render(self) -> Any:
        """The checkpoint's data: JSON-ready, new on every call, as it stood at the snapshot."""


def rendered_data(data: Any) -> Any:
    """A stream state's data as Python objects: a snapshot rendered, anything else as it is."""
    return data.render() if isinstance(data, DeferredStateData) else data


def rendered_state(message: M) -> M:
    """``message`` with a deferred stream state's data rendered; any other message as it is."""
    if not isinstance(message, SourceStateMessage):
        return message
    payload = message.source_state
    if not isinstance(payload, StreamStatePayload) or not isinstance(payload.data, DeferredStateData):
        return message
    data = payload.data.render()
    return message.model_copy(update={"source_state": payload.model_copy(update={"data": data})})


def rendered_stream_states(state: SyncState) -> SyncState:
    """``state`` with every deferred stream state rendered (``state`` itself if none is)."""
    streams = state.source.streams
    if not any(isinstance(value, DeferredStateData) for value in streams.values()):
        return state
    rendered = {
        name: value.render() if isinstance(value, DeferredStateData) else value
        for name, value in streams.items()
    }
    return state.model_copy(update={"source": state.source.model_copy(update={"streams": rendered})})
