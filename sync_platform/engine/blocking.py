"""A synchronous facade over the async engine, for Dagster ops, the CLI and plain scripts.

``iterate`` drives an async iterator from synchronous code on a private event loop, one item at a
time, without threads: each ``next()`` runs the loop until the iterator produces its next item.
Closing the returned iterator early closes the async one (so the source stops), then cancels any
task it left behind before the loop is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion on a fresh event loop."""
    return asyncio.run(coroutine)


def iterate(make_iterator: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
    """Yield the items of ``make_iterator()`` synchronously; the factory runs on the private loop."""
    loop = asyncio.new_event_loop()
    iterator: AsyncIterator[T] | None = None
    try:
        iterator = make_iterator()
        while True:
            try:
                item = loop.run_until_complete(anext(iterator))
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                loop.run_until_complete(aclose())
        finally:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
