"""API keys the emulator accepts, checked the way Stripe checks them (Bearer or Basic auth).

A rejected key gets Stripe's 401 body, which names the key only by its mode and last four
characters, so the full key never reaches a log or an error message.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Iterable

from sync_platform.emulator.errors import ApiError, EmulatorError

KEY_PATTERN = re.compile(r"^(?:sk|rk)_(?:test|live)_[0-9A-Za-z]{8,}$")
NO_KEY_MESSAGE = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
    "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
)


def new_test_key() -> str:
    """A fresh ``sk_test_…`` key (random: every emulator has its own)."""
    return "sk_test_" + secrets.token_urlsafe(24).replace("-", "0").replace("_", "1")


def masked(key: str) -> str:
    """``sk_test_****abcd``: what Stripe prints when it refuses a key."""
    prefix = key[:8] if key.startswith(("sk_", "rk_")) else ""
    return f"{prefix}{'*' * max(0, len(key) - len(prefix) - 4)}{key[-4:]}"


class KeyRing:
    """The secret keys this emulator accepts."""

    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = tuple(keys)
        if not self.keys:
            raise EmulatorError("The emulator needs at least one API key.")
        for key in self.keys:
            if not KEY_PATTERN.match(key):
                raise EmulatorError(
                    f"API key {masked(key)!r} does not look like a Stripe secret key. "
                    "Use sk_test_… or sk_live_… (or rk_ for restricted keys) followed by letters and digits."
                )
        self._accepted = frozenset(self.keys)

    def authenticate(self, authorization: str | None) -> str:
        """The key in an ``Authorization`` header, or a 401 ``ApiError`` as Stripe would send."""
        key = _key_from_header(authorization)
        if key is None:
            raise ApiError(401, NO_KEY_MESSAGE, error_type="invalid_request_error")
        if key not in self._accepted:
            raise ApiError(
                401, f"Invalid API Key provided: {masked(key)}", error_type="invalid_request_error"
            )
        return key

    @staticmethod
    def is_live(key: str) -> bool:
        return key.startswith(("sk_live_", "rk_live_"))


def _key_from_header(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.split(":", 1)[0] or None
    return None
