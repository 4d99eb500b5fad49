"""What can go wrong talking to Stripe, typed by what the source does about it.

Each failed request becomes a ``StripeApiError`` once retries are over; its subclass says how far
the damage reaches. ``StripeAuthError`` (the key is wrong or revoked) stops the whole read with
``connection_status: failed``; ``StripeUnavailableError`` (the account lacks the product, or the
key may not read this resource) skips one stream; any other ``StripeApiError`` fails one stream
while the others carry on. Messages quote Stripe's own text (which masks keys) and never a key.

Apart from its scope, every error carries a ``failure_kind`` (``sync_platform.errors.FailureKind``),
which the pipeline runner acts on: decided by the HTTP status and Stripe's error type, never by the
wording (``stripe_failure_kind``), and fixed for the auth and unavailable subclasses.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar

from sync_platform.errors import FailureKind, SyncPlatformError
from sync_platform.redaction import redact

# Stripe's answers for a resource the account cannot use (not an error in the sync): the
# reference source's list (engine-spec §4.5 step 8), matched case-insensitively as substrings.
NOT_ENABLED_MESSAGES: tuple[str, ...] = (
    "your account is not authorized to send forwarding requests in livemode",
    "this endpoint is only available in testmode",
    "only available in testmode",
    "have you onboarded to treasury",
    "unrecognized request url (get: /v1/treasury/financial_accounts)",
    "accounts v2 is not enabled",
    "isn't available in test mode",
    "api surface is not enabled",
    "your account is not set up to use issuing",
    "your account is not set up to use identity",
)


class StripeSourceError(SyncPlatformError):
    """Root of the Stripe source's errors."""


def stripe_failure_kind(
    status: int | None, error_type: str | None = None, code: str | None = None
) -> FailureKind:
    """What kind of failure a final Stripe answer is, from its status, error type and code.

    No answer at all (a timeout, a reset connection) and 5xx are transient, and so is 409 (a lock
    timeout or a concurrent request); 429 is rate limiting still going on after the client's
    retries. The other 4xx are Stripe refusing this request: 401 the key, 403 what the key may do,
    404 the object, anything else the request itself.
    """
    if status == 401 or error_type == "authentication_error":
        return FailureKind.AUTH
    if status == 403:
        return FailureKind.PERMISSION
    if status == 429 or code == "rate_limit":  # the SDK also types a 400 with this code as a RateLimitError
        return FailureKind.RATE_LIMITED
    if status is None or status >= 500 or status == 409 or error_type == "api_error":
        return FailureKind.TRANSIENT
    if status == 404:
        return FailureKind.NOT_FOUND
    return FailureKind.INVALID_REQUEST


class ErrorScope(StrEnum):
    """How much of a read one failure stops."""

    CONNECTION = "connection"  # the key: every stream, so the read ends
    STREAM_SKIP = "skip"  # this stream cannot be read on this account; not a failure
    STREAM_ERROR = "error"  # this stream failed; the others go on


class StripeApiError(StripeSourceError, RuntimeError):
    """A Stripe request failed for good (after any retries). ``status`` is None without an answer.

    ``failure_kind`` comes from the subclass when it fixes one, else from ``stripe_failure_kind``.
    """

    scope = ErrorScope.STREAM_ERROR
    hint = ""  # the next step for the reader, per subclass
    fixed_kind: ClassVar[FailureKind | None] = None  # the kind of every instance, per subclass

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        account: str | None = None,
        attempts: int = 1,
        error_type: str | None = None,
        param: str | None = None,
    ) -> None:
        self.method, self.path, self.status, self.code = method, path, status, code
        self.param = param
        self.failure_kind = self.fixed_kind or stripe_failure_kind(status, error_type, code)
        self.request_id, self.account, self.attempts = request_id, account, attempts
        self.stripe_message = redact(message)
        where = f"{method.upper()} {path}" + (f" for {account}" if account else "")
        details = [f"HTTP {status}" if status is not None else "no response"]
        if request_id:
            details.append(f"request {request_id}")
        if attempts > 1:
            details.append(f"after {attempts} attempts")
        text = f"Stripe {where} failed ({', '.join(details)}): {self.stripe_message}".rstrip()
        if self.hint and not text.endswith((".", "!", "?")):
            text += "."
        super().__init__(f"{text} {self.hint}".strip())


class StripeAuthError(StripeApiError):
    """Stripe refused the API key (401): nothing can be read with it."""

    scope = ErrorScope.CONNECTION
    fixed_kind = FailureKind.AUTH
    hint = (
        "Check the Stripe source's `api_key` (a secret key sk_… or restricted key rk_… of the "
        "account, in the mode you mean to sync)."
    )


class StripeUnavailableError(StripeApiError):
    """The account cannot read this resource (product not enabled, test-mode only, no permission).

    A read skips the stream; anywhere else (``check``, setup's webhook endpoints, the events poll)
    it is a ``permission`` failure: the key works, but not for this.
    """

    scope = ErrorScope.STREAM_SKIP
    fixed_kind = FailureKind.PERMISSION


def is_not_enabled_message(message: str | None) -> bool:
    """Whether Stripe's error text says the product is not available on this account."""
    text = (message or "").lower()
    return any(phrase in text for phrase in NOT_ENABLED_MESSAGES)


def refuses_parameter(error: BaseException, name: str) -> bool:
    """Whether a failure is the server refusing the request parameter ``name`` itself: a 400 whose
    ``param`` is it (``created``, ``created[gte]``) or whose message names it (Stripe's ``Received
    unknown parameter: created``, a test double's ``Unexpected created``).

    Some Stripe-compatible servers accept fewer parameters than Stripe; the source then does
    without the parameter rather than failing (a false positive only costs a slower listing).
    """
    if not isinstance(error, StripeApiError) or error.status != 400:
        return False
    if error.failure_kind is not FailureKind.INVALID_REQUEST:
        return False  # a 400 with code rate_limit is throttling, not a refusal
    param = error.param or ""
    if param == name or param.startswith(f"{name}["):
        return True
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", error.stripe_message) is not None


def error_scope(error: BaseException) -> ErrorScope:
    """What a failure stops: unexpected exceptions fail their stream, like API errors."""
    return error.scope if isinstance(error, StripeApiError) else ErrorScope.STREAM_ERROR


class MalformedEventError(StripeSourceError, ValueError):
    """A pushed input is neither a Stripe event nor a raw webhook ``{body, headers}``: applying the
    same input again fails the same way."""

    failure_kind = FailureKind.INVALID_REQUEST
