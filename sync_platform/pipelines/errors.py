"""Errors of the pipelines layer: lifecycle conflicts, lost races, missing pipelines, secrets.

Each carries ``http_status`` so the future API and webhook receiver map them without a lookup table
(404 not found, 409 conflict); the CLI maps them by their builtin base (``LookupError`` and
``ValueError`` are bad input, exit 2).
"""

from __future__ import annotations

from sync_platform.errors import ConfigError, SyncPlatformError


class PipelineNotFoundError(SyncPlatformError, LookupError):
    """No pipeline has this id (it never existed, or it was purged after teardown)."""

    http_status = 404

    def __init__(self, pipeline_id: str) -> None:
        self.pipeline_id = pipeline_id
        super().__init__(
            f"Pipeline {pipeline_id!r} not found. List pipelines with `sync-platform pipelines list`."
        )


class PipelineExistsError(SyncPlatformError, ValueError):
    """A create used an id that is taken (also by a deleted pipeline, until it is purged)."""

    http_status = 409

    def __init__(self, pipeline_id: str, *, deleted: bool = False) -> None:
        self.pipeline_id = pipeline_id
        self.deleted = deleted
        detail = " (it is deleted but not purged yet)" if deleted else ""
        super().__init__(
            f"Pipeline {pipeline_id!r} already exists{detail}. Choose another id, or omit `id` to get a "
            "generated one."
        )


class TransitionError(SyncPlatformError, ValueError):
    """A lifecycle change the rules forbid, such as any change to a deleted pipeline (a 409)."""

    http_status = 409

    def __init__(self, message: str, *, pipeline_id: str, current: str, requested: str) -> None:
        self.pipeline_id = pipeline_id
        self.current = current
        self.requested = requested
        super().__init__(message)


class ConcurrentUpdateError(SyncPlatformError, RuntimeError):
    """Someone else changed the pipeline between this writer's read and its write (a 409).

    Raised when the caller said which version it edited (``expected_version``) and that version is
    gone, or when a retried read-modify-write kept losing the race.
    """

    http_status = 409

    def __init__(self, pipeline_id: str, *, expected: int | None, actual: int | None, what: str) -> None:
        self.pipeline_id = pipeline_id
        self.expected = expected
        self.actual = actual
        if actual is None:  # a retried write kept losing
            detail = f"kept changing while this write retried (last seen version {expected})"
        else:
            detail = f"was changed by another writer (you had version {expected}, it is now {actual})"
        super().__init__(
            f"Pipeline {pipeline_id!r}: the {what} {detail}. Read it again and re-apply your change."
        )


class SecretError(ConfigError):
    """A connector secret cannot be stored or revealed; ``field`` names where it sits in the config."""


class MissingSecretKeyError(SecretError):
    """A plaintext secret must be encrypted (or decrypted) but no key is configured."""

    def __init__(self, *, field: str | None, connector: str | None, env_var: str, action: str) -> None:
        self.env_var = env_var
        super().__init__(
            f"Cannot {action} the secret at {field!r} of connector {connector!r}: {env_var} is not set. "
            f'Set {env_var} to a Fernet key (generate one with `python -c "from cryptography.fernet '
            f'import Fernet; print(Fernet.generate_key().decode())"`), or store the secret as a '
            f'reference to an environment variable instead: {{"env": "NAME"}}.',
            field=field,
            connector=connector,
        )


class MissingEnvSecretError(SecretError):
    """A secret references an environment variable that is not set where the pipeline runs."""

    def __init__(self, env_var: str, *, field: str | None, connector: str | None) -> None:
        self.env_var = env_var
        super().__init__(
            f"The secret at {field!r} of connector {connector!r} refers to the environment variable "
            f"{env_var}, which is not set in this process. Set {env_var} where the platform runs "
            "(Dagster code server and webhook receiver), or update the pipeline's config.",
            field=field,
            connector=connector,
        )


class SecretDecryptionError(SecretError):
    """A stored secret does not decrypt with any configured key (the key changed or was lost)."""

    def __init__(self, *, field: str | None, connector: str | None, env_var: str) -> None:
        self.env_var = env_var
        super().__init__(
            f"The encrypted secret at {field!r} of connector {connector!r} cannot be decrypted with the "
            f"key(s) in {env_var}. If the key was rotated, list the new key first and the old one after "
            f"it, comma-separated; if the old key is lost, set the secret again with "
            "`sync-platform pipelines update`.",
            field=field,
            connector=connector,
        )
