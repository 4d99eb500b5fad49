"""A stream checkpoint captured now and written out only if the engine commits it.

A source checkpoints after every page, and the engine commits one checkpoint in ten or fewer of a
stream that reads small pages (``engine.state_coalescing`` holds each one back and replaces it with
the next). For most sources a checkpoint is a small dict, and building one that is dropped costs
nothing worth saving. A Stripe Connect stream's checkpoint names every account (10,000 accounts:
a 10,000-entry dict and a 10,000-item list), so building it for every page and dropping nine in
ten was a fifth of the client's CPU. Such a source hands the engine a ``DeferredStateData``
instead: a snapshot of what the checkpoint will say, cheap to take and immutable, and the engine
calls ``render`` only for the checkpoints that leave its coalescer.

The contract:

- ``render()`` returns the checkpoint's JSON data exactly as the source would have emitted it at
  the moment it took the snapshot, however far the source has read since, and a new object each
  call (nothing the source will write to).
- The engine renders a deferred state before anything outside the engine sees it: a destination,
  the folded sync state, a saved checkpoint, the NDJSON output of ``read`` or ``sync``. Whoever
  reads a source's messages without the engine calls ``rendered_state`` on its states.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, TypeVar

from sync_platform.protocol.messages import Message, SourceStateMessage, StreamStatePayload

M = TypeVar("M", bound=Message)


class DeferredStateData(ABC):
    """A stream state's data as a snapshot; ``render`` writes it out (see the module docstring)."""

    __slots__ = ()

    @abstractmethod
    def render(self) -> Any:
        """The checkpoint's data: JSON-ready, new on every call, as it stood at the snapshot."""


def rendered_state(message: M) -> M:
    """``message`` with a deferred stream state's data rendered; any other message as it is."""
    if not isinstance(message, SourceStateMessage):
        return message
    payload = message.source_state
    if not isinstance(payload, StreamStatePayload) or not isinstance(payload.data, DeferredStateData):
        return message
    data = payload.data.render()
    return message.model_copy(update={"source_state": payload.model_copy(update={"data": data})})
