"""Stripe's HTTP, spoken directly with httpx: one parse of each response, no per-request overhead.

A backfill is thousands of list pages. The ``stripe`` SDK parses every body into ``OrderedDict``s
(``StripeResponse``) that the source would throw away (records must be plain dicts), formats a log
line per request and routes each call through several layers; measured on the end-to-end benchmark,
that was two thirds of the client's CPU. So requests go out here, with the same headers the SDK
sends (``Authorization``, ``Stripe-Version``, ``Stripe-Account``) and Stripe's bracketed parameter
encoding, and each body is parsed once, with orjson. The SDK stays what it is best at: the catalog
(its resource classes) and webhook signatures.

An answer that is not a success becomes an ``HttpFailure``: the status, the headers that steer
retries (``Retry-After``, ``Stripe-Should-Retry``, ``Stripe-Rate-Limited-Reason``) and Stripe's error
body (``type``, ``code``, ``param``, ``message``); no answer at all (a timeout, a reset, a refused
connection) is one with ``status`` None.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

USER_AGENT = "sync-platform (Stripe source)"


@dataclass(frozen=True)
class HttpFailure:
    """A request that got no usable answer: an error status and Stripe's error body, or nothing."""

    status: int | None
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)
    error_type: str | None = None
    code: str | None = None
    param: str | None = None
    request_id: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class HttpAnswer:
    data: dict[str, Any]
    received_at: datetime | None
    request_id: str | None


def encode_params(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: ``created[gte]=1``, ``expand[0]=data.x``, booleans as ``true``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs += encode_params(value, name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                item_name = f"{name}[{index}]"
                if isinstance(item, Mapping):
                    pairs += encode_params(item, item_name)
                else:
                    pairs.append((item_name, _scalar(item)))
        else:
            pairs.append((name, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class StripeHttp:
    """One connection pool for one read; ``send`` returns an ``HttpAnswer`` or an ``HttpFailure``."""

    def __init__(
        self, *, api_key: str, base_url: str, api_version: str, timeout: float, max_connections: int
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Stripe-Version": api_version,
                "User-Agent": USER_AGENT,
            },
        )

    def __repr__(self) -> str:  # the client's headers hold the key
        return "StripeHttp()"

    async def close(self) -> None:
        await self._client.aclose()

    async def send(
        self, method: str, path: str, params: Mapping[str, Any] | None, *, account: str | None
    ) -> HttpAnswer | HttpFailure:
        pairs = encode_params(params or {})
        headers = {"Stripe-Account": account} if account else None
        try:
            if method == "post":
                response = await self._client.post(
                    path,
                    content=urlencode(pairs).encode(),
                    headers={**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"},
                )
            else:
                response = await self._client.request(method.upper(), path, params=pairs, headers=headers)
        except httpx.TransportError as error:  # a timeout, a reset, a refused connection
            return HttpFailure(None, f"no response from Stripe: {type(error).__name__}")
        headers_in = {k.lower(): v for k, v in response.headers.items()}
        request_id = headers_in.get("request-id")
        body = _json(response.content)
        if 200 <= response.status_code < 300 and isinstance(body, dict):
            return HttpAnswer(body, _date(headers_in.get("date")), request_id)
        if 200 <= response.status_code < 300:
            return HttpFailure(response.status_code, "the response body is not a JSON object", headers_in,
                               error_type="api_error", request_id=request_id)  # fmt: skip
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else None
        return HttpFailure(
            response.status_code,
            message or f"HTTP {response.status_code} without an error message",
            headers_in,
            error_type=_text(error.get("type")),
            code=_text(error.get("code")),
            param=_text(error.get("param")),
            request_id=request_id,
        )


def _json(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
