"""Who is calling: a bearer token (API clients, the remote CLI) or the console's sign-in cookie.

Every endpoint but ``/health`` and ``/webhooks/{id}`` (Stripe signs those) needs a token made with
``sync-platform tokens create``. ``read`` tokens may call the GET endpoints; changing or running a
pipeline needs an ``admin`` token. The console keeps the token it was given at sign-in in an
HttpOnly, SameSite=Strict cookie; a write made with that cookie must also carry the
``X-Sync-Platform-Console`` header, which a page on another site cannot add without a CORS
preflight this service never grants (so a forged form post cannot act with the user's cookie).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sync_platform.pipelines.api_tokens import ApiToken
from sync_platform.service.errors import ForbiddenError, UnauthorizedError
from sync_platform.service.services import Services

CONSOLE_COOKIE = "sync_platform_token"
CONSOLE_HEADER = "X-Sync-Platform-Console"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="An API token: `sync-platform tokens create --name NAME [--scope read|admin]`.",
)


@dataclass(frozen=True)
class Principal:
    """The token a request was made with, and how it came (header or console cookie)."""

    token: ApiToken
    via: Literal["bearer", "cookie"]


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def check_token(services: Services, secret: str | None) -> ApiToken:
    """The active token ``secret`` is, or ``UnauthorizedError`` saying what is wrong with it."""
    if not secret:
        raise UnauthorizedError(
            "This endpoint needs an API token, sent in the Authorization header as `Bearer <token>`. "
            "Create one on the platform's machine with `sync-platform tokens create --name NAME`."
        )
    token = services.tokens.verify(secret)
    if token is None:
        raise UnauthorizedError(
            "The API token is not valid (no such token). Check the token, or create one with "
            "`sync-platform tokens create --name NAME`."
        )
    if not token.active:
        raise UnauthorizedError(
            f"The API token {token.name!r} was revoked. Create a new one with "
            "`sync-platform tokens create --name NAME`."
        )
    return token


def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    """The caller's token (read or admin), from the Authorization header or the console cookie."""
    if credentials is not None:
        principal = Principal(check_token(services_of(request), credentials.credentials), "bearer")
    else:
        cookie = request.cookies.get(CONSOLE_COOKIE)
        principal = Principal(check_token(services_of(request), cookie), "cookie")
        if request.method not in SAFE_METHODS and request.headers.get(CONSOLE_HEADER) != "1":
            raise ForbiddenError(
                f"A change made with the console's sign-in cookie must carry the {CONSOLE_HEADER} "
                "header (the console's own pages send it); API clients send the token in the "
                "Authorization header instead."
            )
    request.state.principal = principal
    return principal


def require_admin(principal: Principal = Depends(authenticate)) -> Principal:
    """The caller's token, which must be an admin one (to create, change, run or delete)."""
    if not principal.token.can_write:
        raise ForbiddenError(
            f"The API token {principal.token.name!r} is read-only: it may look at pipelines but not "
            "change or run them. Use an admin token (`sync-platform tokens create --name NAME "
            "--scope admin`)."
        )
    return principal
