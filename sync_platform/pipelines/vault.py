"""Seals plaintext secrets with the Fernet key(s) from the environment, and reveals stored ones."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from sync_platform.pipelines.errors import (
    MissingEnvSecretError,
    MissingSecretKeyError,
    SecretDecryptionError,
    SecretError,
)
from sync_platform.pipelines.secret_fields import is_encrypted, is_env_reference, reference_problem

SECRET_KEY_ENV = "SYNC_PLATFORM_SECRET_KEY"
FILE_SUFFIX = "_FILE"


def env_secret(environ: Mapping[str, str], name: str) -> str | None:
    """The secret in environment variable ``name``, else in the file ``<name>_FILE`` names.

    The ``_FILE`` form (Docker's secrets convention) lets a ``.env`` or a service manager point at
    a 0600 key file instead of holding the secret itself: ``make dev`` writes
    ``SYNC_PLATFORM_SECRET_KEY_FILE`` and, for the emulator, ``STRIPE_API_KEY_FILE``. An empty
    value counts as unset.
    """
    value = environ.get(name, "").strip()
    if value:
        return value
    path = environ.get(name + FILE_SUFFIX, "").strip()
    if not path:
        return None
    try:
        return Path(path).expanduser().read_text().strip() or None
    except OSError as error:
        raise SecretError(
            f"{name + FILE_SUFFIX} names {path}, which cannot be read ({error.strerror}). Point it at "
            f"the file holding {name}, or set {name} itself.",
            field=name,
        ) from None


class SecretVault:
    """Seals plaintext secrets with the Fernet key(s) from the environment and reveals them again.

    ``SYNC_PLATFORM_SECRET_KEY`` (or the file ``SYNC_PLATFORM_SECRET_KEY_FILE`` names) holds one
    key, or several comma-separated: the first encrypts,
    all of them decrypt, so a key can be rotated without re-encrypting every pipeline at once.
    The environment is read when a secret is used, never at import, so one process can be
    configured after it starts and tests can pass their own mapping.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._cipher_for: tuple[str, MultiFernet] | None = None

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def _cipher(self, *, field: str | None, connector: str | None, action: str) -> MultiFernet:
        raw = env_secret(self.environ, SECRET_KEY_ENV)
        if not raw:
            raise MissingSecretKeyError(
                field=field, connector=connector, env_var=SECRET_KEY_ENV, action=action
            )
        if self._cipher_for is None or self._cipher_for[0] != raw:
            try:
                cipher = MultiFernet([Fernet(key.strip()) for key in raw.split(",") if key.strip()])
            except (ValueError, TypeError):
                raise SecretError(
                    f"{SECRET_KEY_ENV} is not a valid Fernet key (32 url-safe base64-encoded bytes; "
                    'several keys are separated by commas). Generate one with `python -c "from '
                    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.',
                    field=SECRET_KEY_ENV,
                ) from None
            self._cipher_for = (raw, cipher)
        return self._cipher_for[1]

    def seal(
        self, plaintext: str, *, field: str | None = None, connector: str | None = None
    ) -> dict[str, str]:
        """The stored form of a plaintext secret: ``{"encrypted": <token>}``."""
        cipher = self._cipher(field=field, connector=connector, action="encrypt")
        return {"encrypted": cipher.encrypt(plaintext.encode()).decode()}

    def reveal(self, stored: Any, *, field: str | None = None, connector: str | None = None) -> str:
        """The plaintext behind a stored secret (an env reference, a token, or a bare string)."""
        if isinstance(stored, str):
            return stored
        if is_env_reference(stored):
            name = stored["env"]
            value = env_secret(self.environ, name)
            if value is None:
                raise MissingEnvSecretError(name, field=field, connector=connector)
            return value
        if is_encrypted(stored):
            cipher = self._cipher(field=field, connector=connector, action="decrypt")
            try:
                return cipher.decrypt(stored["encrypted"].encode()).decode()
            except InvalidToken:
                raise SecretDecryptionError(
                    field=field, connector=connector, env_var=SECRET_KEY_ENV
                ) from None
        raise SecretError(
            f"The secret at {field!r} of connector {connector!r} is not in a stored form: "
            f"{reference_problem(stored)}.",
            field=field,
            connector=connector,
        )

    def holds(self, stored: Any, plaintext: str) -> bool:
        """Whether ``stored`` reveals to ``plaintext`` here (False when it cannot be revealed)."""
        try:
            return self.reveal(stored) == plaintext
        except SecretError:
            return False
