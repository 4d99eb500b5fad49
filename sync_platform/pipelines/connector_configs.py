"""The gate connector configs pass through on their way into the store and out to a run.

The one way a config enters the store is ``prepare``: it checks the config against the connector's
JSON schema (defaults applied) and with the connector's own offline validator, then replaces every
plaintext secret with its stored form. The one way it leaves for a run is ``reveal``, which resolves
env references and decrypts tokens in-process.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import SecretStr

from sync_platform.engine.config import validate_config
from sync_platform.engine.connectors import (
    SECRET_PLACEHOLDER,
    Destination,
    Source,
    validate_config_offline,
)
from sync_platform.engine.registry import ConnectorRegistry, default_registry
from sync_platform.errors import ConfigError
from sync_platform.pipelines.masking import mask_paths
from sync_platform.pipelines.secret_fields import (
    ConfigPath,
    find_at,
    is_reference,
    iter_secret_values,
    reference_problem,
    render_path,
    secret_paths,
    set_at,
    stored_form_schema,
)
from sync_platform.pipelines.vault import SecretVault
from sync_platform.protocol import ConnectorConfig
from sync_platform.redaction import MASK

Side = Literal["source", "destination"]

WEBHOOK_SECRET_FIELD = "webhook_secret"
"""The source config field holding the webhook signing secret, or a list of them during rotation."""


def _overlaps(field: str, path: str) -> bool:
    """Whether a config error at ``field`` concerns the value at ``path`` (or one inside it)."""
    return field == path or field.startswith(f"{path}.") or path.startswith(f"{field}.")


class ConnectorConfigs:
    """Connector configs in and out of the store, for the connectors in ``registry``."""

    def __init__(self, registry: ConnectorRegistry | None = None, vault: SecretVault | None = None) -> None:
        self.registry = registry or default_registry()
        self.vault = vault or SecretVault()
        self._schemas: dict[tuple[Side, str], dict[str, Any]] = {}

    def _connector(self, side: Side, connector_type: str) -> Source | Destination:
        if side == "source":
            return self.registry.source(connector_type)
        return self.registry.destination(connector_type)

    def schema(self, side: Side, connector_type: str) -> dict[str, Any]:
        """The connector's config JSON schema (its ``spec().config``), cached per connector."""
        key = (side, connector_type)
        if key not in self._schemas:
            self._schemas[key] = self._connector(side, connector_type).spec().config
        return self._schemas[key]

    def secret_paths(self, side: Side, connector: ConnectorConfig) -> list[ConfigPath]:
        return secret_paths(self.schema(side, connector.type), connector.config)

    def prepare(
        self,
        side: Side,
        incoming: ConnectorConfig,
        previous: ConnectorConfig | None = None,
        *,
        connector_rules: bool = True,
    ) -> ConnectorConfig:
        """The stored form of ``incoming``: validated, defaults applied, every secret sealed.

        ``previous`` (the config being replaced, if any) lets three things survive an update: a
        secret sent back masked as ``***`` keeps its stored value; a plaintext equal to what an
        ``{"env": ...}`` reference resolves to keeps the reference; a plaintext equal to the
        stored token's content keeps the token (no re-encryption churn). ``connector_rules=False``
        checks the JSON schema only, for a config the connector itself produced.
        """
        schema = self.schema(side, incoming.type)
        before = previous.config if previous is not None and previous.type == incoming.type else None
        config = copy.deepcopy(incoming.config)
        for path, value in iter_secret_values(config, secret_paths(schema, config)):
            self._check_secret_input(side, incoming.type, config, path, value, before)
        validated = validate_config(stored_form_schema(schema), config, connector=incoming.type, side=side)
        if connector_rules:
            self._check_connector_rules(side, incoming.type, validated)
        for path, value in iter_secret_values(validated, secret_paths(schema, validated)):
            if isinstance(value, str):
                set_at(validated, path, self._seal(incoming.type, path, value, before))
        return ConnectorConfig(type=incoming.type, config=validated)

    def _check_connector_rules(self, side: Side, connector_type: str, config: dict[str, Any]) -> None:
        """The connector's own offline validator (``validate_config``), if it has one.

        A secret held by reference is checked where it is read (the run, the connection check), so
        the validator sees ``SECRET_PLACEHOLDER`` there and an error it reports at that field is
        about the placeholder, not the user's value: it is disregarded. A plaintext secret, as typed
        in this request, is checked for real.
        """
        view = copy.deepcopy(config)
        unread: list[str] = []
        for path, value in iter_secret_values(view, secret_paths(self.schema(side, connector_type), view)):
            if is_reference(value):
                set_at(view, path, SECRET_PLACEHOLDER)
                unread.append(render_path(path))
        try:
            validate_config_offline(self._connector(side, connector_type), view)
        except ConfigError as error:
            field = error.field
            if field is None or not any(_overlaps(field, path) for path in unread):
                raise

    def _check_secret_input(
        self,
        side: Side,
        connector_type: str,
        config: dict[str, Any],
        path: ConfigPath,
        value: Any,
        before: dict[str, Any] | None,
    ) -> None:
        """Replace a masked ``***`` by the stored secret; reject malformed or undecryptable references."""
        field = render_path(path)
        if value == MASK:
            found, stored = find_at(before, path) if before is not None else (False, None)
            if not found or not is_reference(stored):
                raise ConfigError(
                    f"Invalid {side} config for {connector_type!r} at {field!r}: the secret is masked "
                    "(`***`) and there is no stored secret there to keep. Send the secret itself or "
                    '{"env": "NAME"}.',
                    field=field,
                    connector=connector_type,
                )
            set_at(config, path, copy.deepcopy(stored))
        elif isinstance(value, dict):
            problem = reference_problem(value)
            if problem is not None:
                raise ConfigError(
                    f"Invalid {side} config for {connector_type!r} at {field!r}: {problem}.",
                    field=field,
                    connector=connector_type,
                )
            if "encrypted" in value:  # a token from elsewhere must open with our key, or it is lost
                self.vault.reveal(value, field=field, connector=connector_type)

    def _seal(
        self, connector_type: str, path: ConfigPath, plaintext: str, before: dict[str, Any] | None
    ) -> Any:
        found, stored = find_at(before, path) if before is not None else (False, None)
        if found and is_reference(stored) and self.vault.holds(stored, plaintext):
            return copy.deepcopy(stored)
        return self.vault.seal(plaintext, field=render_path(path), connector=connector_type)

    def reveal(self, side: Side, stored: ConnectorConfig) -> ConnectorConfig:
        """The plaintext config for a run: env references resolved, tokens decrypted. In-process only."""
        config = copy.deepcopy(stored.config)
        for path, value in iter_secret_values(config, self.secret_paths(side, stored)):
            if is_reference(value):
                set_at(config, path, self.vault.reveal(value, field=render_path(path), connector=stored.type))
        return ConnectorConfig(type=stored.type, config=config)

    def masked_plaintext(self, side: Side, connector: ConnectorConfig) -> dict[str, Any]:
        """Output form of a config that may hold plaintext secrets (a request, a revealed config)."""
        masked = mask_paths(connector.config, self.secret_paths(side, connector))
        return {"type": connector.type, connector.type: masked}

    def webhook_secrets(self, source: ConnectorConfig) -> tuple[SecretStr, ...]:
        """The source's webhook signing secret(s), revealed: several while a secret is rotated."""
        stored = source.config.get(WEBHOOK_SECRET_FIELD)
        values = stored if isinstance(stored, list) else [stored] if stored else []
        secrets: list[SecretStr] = []
        for index, value in enumerate(values):
            field = (
                WEBHOOK_SECRET_FIELD if not isinstance(stored, list) else f"{WEBHOOK_SECRET_FIELD}.{index}"
            )
            secrets.append(SecretStr(self.vault.reveal(value, field=field, connector=source.type)))
        return tuple(secrets)
