"""Reads a request body up to a size limit, refusing an oversized one before it is buffered.

A declared ``Content-Length`` over the limit is refused without reading a byte; a chunked body (or
one whose length header lies) is counted while it streams and refused as soon as it passes the
limit, so a client can never make the receiver hold more than ``limit`` bytes of one request.
"""

from __future__ import annotations

from starlette.requests import Request

from sync_platform.errors import SyncPlatformError

MAX_BODY_BYTES = 1024 * 1024
"""Stripe events are a few KiB; 1 MiB leaves room for large objects and stops abuse."""


class BodyTooLargeError(SyncPlatformError, ValueError):
    """The request body is over the receiver's limit (a 413); nothing from it is stored."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"The request body is over the {limit:,}-byte limit; nothing was stored.")


def declared_length_too_large(request: Request, limit: int) -> bool:
    """Whether the ``Content-Length`` header alone already rules the request out."""
    declared = request.headers.get("content-length")
    if declared is None:
        return False
    declared = declared.strip()
    # A malformed header never gets here (the HTTP parser answers 400); the stream count still guards.
    return declared.isdigit() and int(declared) > limit


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or ``BodyTooLargeError`` once more than ``limit`` bytes have arrived."""
    if declared_length_too_large(request, limit):
        raise BodyTooLargeError(limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise BodyTooLargeError(limit)
        chunks.append(chunk)
    return b"".join(chunks)
