"""The emulator's OAuth token endpoint and bearer-token check.

google-auth signs a JWT with the service account's private key and posts it to the key file's
``token_uri`` (or posts a refresh token for an authorized user); the emulator answers with an
access token bound to that identity. A service account whose public key was registered has its
signature verified, so a test can show what a wrong key looks like; others are trusted, which keeps
ad-hoc use easy. Every later request must carry one of the issued tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sync_platform.sheets_emulator.errors import SheetsApiError

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_SECONDS = 3599


class TokenError(SheetsApiError):
    """An OAuth failure, rendered as the OAuth error body (``error``, ``error_description``)."""

    def __init__(self, error: str, description: str) -> None:
        self.oauth_error = error
        super().__init__(400, description)

    def oauth_body(self) -> dict[str, str]:
        return {"error": self.oauth_error, "error_description": str(self)}


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Authority:
    """Issues access tokens and maps them back to identities (service-account e-mails)."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._public_keys: dict[str, rsa.RSAPublicKey] = {}

    def reset(self) -> None:
        self._tokens.clear()

    def register_service_account(self, email: str, public_key_pem: bytes) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, rsa.RSAPublicKey):
            raise TypeError("service accounts sign with RSA keys")
        self._public_keys[email] = key

    def issue(self, identity: str) -> str:
        token = "ya29.emulator-" + secrets.token_urlsafe(24)
        self._tokens[token] = identity
        return token

    def identity(self, authorization: str | None) -> str:
        """The identity behind an ``Authorization: Bearer ...`` header, or a 401."""
        scheme, _, token = (authorization or "").partition(" ")
        identity = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if identity is None:
            raise SheetsApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential.",
            )
        return identity

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        """Answer a token request (JWT bearer or refresh token) with a fresh access token."""
        grant_type = form.get("grant_type")
        if grant_type == JWT_BEARER:
            identity = self._verify_assertion(form.get("assertion", ""))
        elif grant_type == "refresh_token":
            if not form.get("refresh_token") or not form.get("client_id"):
                raise TokenError("invalid_request", "refresh_token and client_id are required.")
            identity = f"{form['client_id']}@authorized-user"
        else:
            raise TokenError("unsupported_grant_type", f"Unsupported grant_type: {grant_type!r}.")
        return {
            "access_token": self.issue(identity),
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "token_type": "Bearer",
        }

    def _verify_assertion(self, assertion: str) -> str:
        try:
            header_part, payload_part, signature_part = assertion.split(".")
            header = json.loads(_b64decode(header_part))
            claims = json.loads(_b64decode(payload_part))
            signature = _b64decode(signature_part)
        except (ValueError, binascii.Error):
            raise TokenError("invalid_grant", "Invalid JWT: not a signed JWT.") from None
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise TokenError("invalid_grant", "Invalid JWT: no issuer.")
        key = self._public_keys.get(issuer)
        if key is not None:
            if header.get("alg") != "RS256":
                raise TokenError("invalid_grant", "Invalid JWT: expected alg RS256.")
            try:
                key.verify(
                    signature,
                    f"{header_part}.{payload_part}".encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except InvalidSignature:
                raise TokenError("invalid_grant", "Invalid JWT Signature.") from None
        return issuer
