"""Stripe's HTTP, spoken directly with aiohttp: one parse of each response, little per-request work.

A backfill is thousands of list pages. The ``stripe`` SDK parses every body into ``OrderedDict``s
(``StripeResponse``) that the source would throw away (records must be plain dicts), formats a log
line per request and routes each call through several layers; measured on the end-to-end benchmark,
that was two thirds of the client's CPU. So requests go out here, with the same headers the SDK
sends (``Authorization``, ``Stripe-Version``, ``Stripe-Account``) and Stripe's bracketed parameter
encoding, and each body is parsed once, with orjson. The SDK stays what it is best at: the catalog
(its resource classes) and webhook signatures.

Why aiohttp rather than httpx (which the rest of the project uses, in tests and tools): a
backfill's cost per request is the client's own work, and a Connect platform's is almost all per
request (thousands of one-page accounts). Measured on one machine in one run, 3,000 list pages of
100 objects against a local server: httpx 1.65-1.80 ms of CPU per request (httpcore, anyio and its
pure-Python HTTP parser), aiohttp 0.09-0.18 ms (a C parser, its own connection pool).

An answer that is not a success becomes an ``HttpFailure``: the status, the headers that steer
retries (``Retry-After``, ``Stripe-Should-Retry``, ``Stripe-Rate-Limited-Reason``) and Stripe's error
body (``type``, ``code``, ``param``, ``message``); no answer at all (a timeout, a reset, a refused
connection) is one with ``status`` None.
"""

from __future__ import annotations

import email.utils
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from yarl import URL

USER_AGENT = "sync-platform (Stripe source)"
logger = logging.getLogger(__name__)


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
    """One connection pool for one read; ``send`` returns an ``HttpAnswer`` or an ``HttpFailure``.

    The aiohttp session is made on the first request, inside the read's event loop (a session
    belongs to the loop it was made in), and closed by ``close``.
    """

    def __init__(
        self, *, api_key: str, base_url: str, api_version: str, timeout: float, max_connections: int
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._max_connections = max_connections
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Stripe-Version": api_version,
            "User-Agent": USER_AGENT,
        }
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # the headers hold the key
        return "StripeHttp()"

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                trust_env=False,  # no proxy settings from the environment: the key goes only to base_url
            )
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(
        self, method: str, path: str, params: Mapping[str, Any] | None, *, account: str | None
    ) -> HttpAnswer | HttpFailure:
        query = urlencode(encode_params(params or {}))
        headers = {"Stripe-Account": account} if account else {}
        session = self._open()
        try:
            if method == "post":
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                url, data = URL(self._base_url + path, encoded=True), query.encode()
            else:
                url = URL(f"{self._base_url}{path}?{query}" if query else self._base_url + path, encoded=True)
                data = None
            async with session.request(method.upper(), url, data=data, headers=headers) as response:
                content = await response.read()
                status = response.status
                headers_in = {k.lower(): v for k, v in response.headers.items()}
        except (TimeoutError, aiohttp.ClientError) as error:  # a timeout, a reset, a refusal
            return HttpFailure(None, f"no response from Stripe: {type(error).__name__}")
        request_id = headers_in.get("request-id")
        if logger.isEnabledFor(logging.DEBUG):  # one check per request when debug logging is off
            logger.debug(
                "%s %s%s: HTTP %s (%s)", method.upper(), path,
                f" for {account}" if account else "", status, request_id or "no request id",
            )  # fmt: skip
        body = _json(content)
        if 200 <= status < 300 and isinstance(body, dict):
            return HttpAnswer(body, _date(headers_in.get("date")), request_id)
        if 200 <= status < 300:
            return HttpFailure(status, "the response body is not a JSON object", headers_in,
                               error_type="api_error", request_id=request_id)  # fmt: skip
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else None
        return HttpFailure(
            status,
            message or f"HTTP {status} without an error message",
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
    return _parsed_date(value) if value else None


@functools.lru_cache(maxsize=8)
def _parsed_date(value: str) -> datetime | None:
    """The ``Date`` header as a datetime. Cached: it changes once a second, and parsing it with
    ``email.utils`` cost ~2 % of a Connect platform's CPU (one parse per small page)."""
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
