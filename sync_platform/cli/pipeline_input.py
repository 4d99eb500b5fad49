"""Builds create and update requests from a pipeline file (``-f``) and flags, flags winning.

A pipeline file is the same document the store takes (YAML or JSON)::

    id: shop                               # optional; generated when omitted
    source: {type: stripe, stripe: {api_key: {env: STRIPE_API_KEY}}}
    destination: {type: postgres, postgres: {...}}
    streams: [customer, invoice]           # optional; omitted = every stream

``--source T`` / ``--destination T`` choose (or confirm) the connector and the shorthand flags
set fields on top. On update, shorthand flags edit the stored config in place (its secrets stay as
stored: env references, or encrypted tokens that the store keeps), while ``--source T`` naming a
different connector starts that side from scratch.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError

from sync_platform.cli.connector_flags import SIDES, ConnectorFlag, Side, apply_connector_flags
from sync_platform.cli.dev_env import LOCAL_RECEIVER_URL_ENV, LOCAL_STRIPE_URL_ENV
from sync_platform.errors import ConfigError
from sync_platform.pipelines import (
    ConnectorConfigs,
    Pipeline,
    PipelineCreate,
    PipelineUpdate,
)
from sync_platform.pipelines.local_defaults import LocalStackDefaults

RequestT = TypeVar("RequestT", bound=BaseModel)


def _document(raw: Any, option: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise click.BadParameter(
            "a pipeline file must hold a mapping (id, source, destination, streams)", param_hint=option
        )
    return copy.deepcopy(dict(raw))


def _connector(value: Any, side: Side) -> tuple[str | None, dict[str, Any]]:
    """``(type, config)`` of a ``{"type": T, T: {...}}`` document (``(None, {})`` when absent)."""
    if value is None:
        return None, {}
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise ConfigError(
            f'{side} must look like {{"type": "<connector>", "<connector>": {{...config}}}}', field=side
        )
    config = value.get(value["type"]) or {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{side}.{value['type']} must be a mapping of config fields", field=side)
    return value["type"], dict(config)


def _validated(model: type[RequestT], document: dict[str, Any], what: str) -> RequestT:
    """The request model, or a one-line ``ConfigError`` naming the first bad field."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or what
        raise ConfigError(f"Invalid {what} at {where!r}: {first['msg']}.", field=where) from None


def _installed(configs: ConnectorConfigs, side: Side) -> str:
    return ", ".join(configs.registry.names(side)) or "(none)"


def creation_request(
    file_document: Any,
    *,
    configs: ConnectorConfigs,
    pipeline_id: str | None,
    connector_types: Mapping[Side, str | None],
    flags: list[ConnectorFlag],
    streams: list[str] | None,
    paused: bool,
) -> PipelineCreate:
    """``PipelineCreate`` from the file (if any) with the flags applied on top."""
    document = _document(file_document, "--file")
    for side in SIDES:
        file_type, config = _connector(document.get(side), side)
        chosen = connector_types.get(side)
        if chosen and file_type and chosen != file_type:
            raise click.UsageError(f"--{side} {chosen} conflicts with the file's {side} type {file_type!r}.")
        connector_type = chosen or file_type
        side_flags = [flag for flag in flags if flag.side == side]
        if connector_type is None:
            hint = f" before --{side}.<field> flags" if side_flags else ""
            raise click.UsageError(
                f"Say which {side} connector to use{hint}: --{side} <name> (installed: "
                f"{_installed(configs, side)}), or give `{side}` in a pipeline file (-f)."
            )
        schema = configs.schema(side, connector_type)
        config = apply_connector_flags(config, side_flags, schema=schema, connector=connector_type)
        document[side] = {"type": connector_type, connector_type: config}
    if pipeline_id is not None:
        document["id"] = pipeline_id
    if streams is not None:
        document["streams"] = streams
    if paused:
        document["desired_status"] = "paused"
    _local_stack_defaults(document, os.environ)
    return _validated(PipelineCreate, document, "pipeline")


def _local_stack_defaults(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    """While ``make dev`` runs on the emulator, a new Stripe source defaults to it and to the local
    receiver (``pipelines.local_defaults``); the dev stack's ``.env`` block says where both are
    (``SYNC_PLATFORM_LOCAL_STRIPE_URL``, ``SYNC_PLATFORM_LOCAL_RECEIVER_URL``)."""
    if stripe_url := environ.get(LOCAL_STRIPE_URL_ENV):
        LocalStackDefaults(stripe_url, environ.get(LOCAL_RECEIVER_URL_ENV) or None).apply(document)


def update_request(
    current: Pipeline,
    file_document: Any,
    *,
    configs: ConnectorConfigs,
    connector_types: Mapping[Side, str | None],
    flags: list[ConnectorFlag],
    streams: list[str] | None,
    all_streams: bool,
) -> PipelineUpdate:
    """``PipelineUpdate`` with only what the file and flags change; sides replaced wholesale."""
    document = _document(file_document, "--file")
    for side in SIDES:
        side_flags = [flag for flag in flags if flag.side == side]
        chosen = connector_types.get(side)
        if side in document:
            connector_type, config = _connector(document[side], side)
            if chosen and connector_type != chosen:
                raise click.UsageError(
                    f"--{side} {chosen} conflicts with the file's {side} type {connector_type!r}."
                )
        elif side_flags or chosen:
            stored = current.source if side == "source" else current.destination
            connector_type = chosen or stored.type
            config = copy.deepcopy(stored.config) if connector_type == stored.type else {}
        else:
            continue
        assert connector_type is not None  # _connector only returns None for an absent side
        schema = configs.schema(side, connector_type)
        config = apply_connector_flags(config, side_flags, schema=schema, connector=connector_type)
        document[side] = {"type": connector_type, connector_type: config}
    if all_streams:
        document["streams"] = None
    elif streams is not None:
        document["streams"] = streams
    if not document:
        raise click.UsageError(
            "Nothing to update: give a pipeline file (-f), --source.<field> / --destination.<field> "
            "flags, --streams or --all-streams."
        )
    return _validated(PipelineUpdate, document, "pipeline update")
