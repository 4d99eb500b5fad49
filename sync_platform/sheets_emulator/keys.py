"""Service-account key files for the emulator: generated on the spot, shaped like Google's.

The demo, the benchmark and the tests need credentials that google-auth accepts (an RSA private key
in Google's JSON key-file format) without any Google account; the emulator verifies the tokens they
sign once the public half is registered with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEMO_SERVICE_ACCOUNT = "sync-platform-demo@sync-platform-local.iam.gserviceaccount.com"


@dataclass(frozen=True)
class GeneratedKey:
    """A key file (``info``, what ``service_account_json`` holds) and its public key."""

    email: str
    info: dict[str, Any]
    public_key_pem: bytes


def generate_service_account_key(email: str = DEMO_SERVICE_ACCOUNT) -> GeneratedKey:
    """A fresh 2048-bit service-account key file; ``token_uri`` is Google's, as in a real one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    project = email.split("@")[-1].split(".")[0] or "local"
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "0" * 40,
        "private_key": private_pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return GeneratedKey(email, info, public_pem)
