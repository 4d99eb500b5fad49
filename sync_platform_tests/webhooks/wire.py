"""The link between Stripe and the receiver, as an ASGI middleware a test can watch and break.

Stripe's delivery guarantees are about what happens on the wire: an acknowledgement lost after the
receiver committed makes Stripe send the event again, and anyone who captured a genuine delivery
can try to replay it later. ``Wire`` records every POST exactly as it arrived (body bytes and
``Stripe-Signature``) and can, for the next N requests, either answer them itself without passing
them on (``intercept``: an eavesdropper's capture) or pass them on and replace the receiver's
answer with a 503 (``lose_acks``: the connection dropped before the answer got back). Everything
else goes to the real receiver untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class CapturedRequest:
    """One POST as it arrived: the exact bytes and signature a replay would reuse."""

    path: str
    body: bytes
    signature: str | None


@dataclass
class Wire:
    """What crossed the wire so far, and the faults to apply to the next requests."""

    captured: list[CapturedRequest] = field(default_factory=list)
    intercept: int = 0
    """The next N requests are captured and answered 200 here; the receiver never sees them."""
    lose_acks: int = 0
    """The next N requests reach the receiver, but the sender gets a 503 instead of its answer."""


class WireMiddleware:
    """Applies a ``Wire`` in front of an app (``app.add_middleware(WireMiddleware, wire=wire)``).

    Runs on the server's event loop, so the counters need no lock: nothing awaits between the
    check and the decrement.
    """

    def __init__(self, app: ASGIApp, wire: Wire) -> None:
        self.app = app
        self.wire = wire

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        signature = Headers(scope=scope).get("stripe-signature")
        self.wire.captured.append(CapturedRequest(scope["path"], body, signature))
        if self.wire.intercept > 0:
            self.wire.intercept -= 1
            await _answer(send, 200)
            return
        if self.wire.lose_acks > 0:
            self.wire.lose_acks -= 1
            await self.app(scope, _replay(body, receive), _discard)
            await _answer(send, 503)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then waits on the real connection."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _discard(message: Message) -> None:
    return


async def _answer(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
