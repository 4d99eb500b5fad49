"""Connector shorthand flags: ``--source.api-key-env STRIPE_API_KEY``, ``--destination.schema stripe``.

A connector's config fields are not known until its name is, so these flags cannot be click
options: ``ConnectorFlagsCommand`` takes every ``--source.<field>`` / ``--destination.<field>`` out
of the arguments before click parses the rest, and ``apply_connector_flags`` writes them into a
config using the connector's spec (its JSON schema):

- ``--source.<field> VALUE`` (or ``=VALUE``); kebab-case becomes snake_case, dots reach nested
  fields (``--destination.credentials.user app``);
- ``--source.<field>-env VAR`` stores ``{"env": "VAR"}``: only for secret fields, so a key is
  referenced by name and never typed on a command line;
- values are JSON-parsed when the field can hold more than a string (``--source.streams
  '{"customer": 5}'``, ``--source.state-every 50``); a string field keeps the text as typed;
- a field the connector does not have is an error that suggests the closest name and lists them all.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import click

from sync_platform.errors import ConfigError, did_you_mean
from sync_platform.pipelines import secret_paths

Side = Literal["source", "destination"]
SIDES: tuple[Side, ...] = ("source", "destination")
ENV_SUFFIX = "_env"
META_KEY = "sync_platform.connector_flags"


@dataclass(frozen=True)
class ConnectorFlag:
    """One shorthand flag as typed: its side, its dotted field path (snake_case) and its value."""

    side: Side
    path: tuple[str, ...]
    value: str
    flag: str


def extract_connector_flags(args: list[str]) -> tuple[list[str], list[ConnectorFlag]]:
    """Split ``args`` into what click should parse and the connector shorthand flags."""
    rest: list[str] = []
    flags: list[ConnectorFlag] = []
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        side = next((s for s in SIDES if token.startswith(f"--{s}.")), None)
        if side is None:
            rest.append(token)
            index += 1
            continue
        name, has_value, value = token.partition("=")
        if has_value:
            index += 1
        elif index + 1 < len(args):
            value = args[index + 1]
            index += 2
        else:
            raise click.UsageError(f"{name} needs a value, e.g. {name} VALUE.")
        dotted = name[len(side) + 3 :]
        parts = dotted.split(".")
        if not all(parts):
            raise click.UsageError(f"{name}: expected --{side}.<field>[.<nested field>].")
        flags.append(ConnectorFlag(side, tuple(p.replace("-", "_") for p in parts), value, name))
    return rest, flags


class ConnectorFlagsCommand(click.Command):
    """A command that also accepts ``--source.<field>`` and ``--destination.<field>`` flags.

    They are stored in ``ctx.meta[META_KEY]`` (read them with ``connector_flags(ctx)``); any other
    unknown option is still click's usual error.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest, flags = extract_connector_flags(args)
        ctx.meta[META_KEY] = flags
        return super().parse_args(ctx, rest)


def connector_flags(ctx: click.Context, side: Side | None = None) -> list[ConnectorFlag]:
    flags: list[ConnectorFlag] = ctx.meta.get(META_KEY, [])
    return [flag for flag in flags if side is None or flag.side == side]


# --- reading the connector's JSON schema ---------------------------------------------------------


def _resolve(root: Mapping[str, Any], node: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """``node`` and every schema it stands for through ``$ref``, ``allOf``, ``anyOf``, ``oneOf``."""
    if depth > 16 or not isinstance(node, Mapping):
        return
    yield node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        yield from _resolve(root, target, depth + 1)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(keyword) or ():
            yield from _resolve(root, branch, depth + 1)


def _properties(root: Mapping[str, Any], node: Any) -> tuple[dict[str, Any], bool]:
    """The properties an object schema declares, and whether it accepts undeclared ones."""
    properties: dict[str, Any] = {}
    open_ended = False
    objects = 0
    for schema in _resolve(root, node):
        if isinstance(schema.get("properties"), Mapping):
            objects += 1
            properties.update(schema["properties"])
        extra = schema.get("additionalProperties")
        if (
            extra is True
            or isinstance(extra, Mapping)
            or isinstance(schema.get("patternProperties"), Mapping)
        ):
            open_ended = True
    return properties, open_ended or objects == 0  # no declared shape: nothing to check against


def _types(root: Mapping[str, Any], node: Any) -> set[str]:
    types: set[str] = set()
    for schema in _resolve(root, node):
        declared = schema.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(t for t in declared if isinstance(t, str))
    return types


def _kebab(name: str) -> str:
    return name.replace("_", "-")


def _parse_value(text: str, field_schema: Any, root: Mapping[str, Any]) -> Any:
    """JSON when the field can hold more than a string; the text as typed for a string field."""
    if _types(root, field_schema) - {"null"} == {"string"}:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# --- applying flags to a config ------------------------------------------------------------------


def _set(config: dict[str, Any], path: tuple[str, ...], value: Any, flag: str) -> None:
    node = config
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{flag}: {'.'.join(path[:-1])!r} is not an object, so it has no fields.")
        node = child
    node[path[-1]] = value


def _resolve_flag(
    flag: ConnectorFlag, schema: Mapping[str, Any], connector: str
) -> tuple[tuple[str, ...], Any]:
    """The config path and value a flag stands for, checked against the connector's schema."""
    node: Any = schema
    path: list[str] = []
    as_env = False
    for position, name in enumerate(flag.path):
        properties, open_ended = _properties(schema, node)
        last = position == len(flag.path) - 1
        if (
            name not in properties
            and last
            and name.endswith(ENV_SUFFIX)
            and name[: -len(ENV_SUFFIX)] in properties
        ):
            name, as_env = name[: -len(ENV_SUFFIX)], True
        if name not in properties and not open_ended:
            prefix = ".".join(_kebab(p) for p in path)
            listed = ", ".join(
                f"--{flag.side}.{prefix + '.' if prefix else ''}{_kebab(p)}" for p in sorted(properties)
            )
            raise ConfigError(
                f"{flag.flag}: connector {connector!r} has no {flag.side} field {name!r}."
                f"{did_you_mean(name, properties)} Valid fields: {listed or '(none)'}.",
                field=".".join([*path, name]),
                connector=connector,
            )
        path.append(name)
        node = properties.get(name)
    field_path = tuple(path)
    if not as_env:
        return field_path, _parse_value(flag.value, node, schema)
    reference = {"env": flag.value}
    probe: dict[str, Any] = {}
    _set(probe, field_path, reference, flag.flag)
    if field_path not in secret_paths(schema, probe):
        plain = f"--{flag.side}.{'.'.join(_kebab(p) for p in field_path)}"
        raise ConfigError(
            f"{flag.flag}: {'.'.join(field_path)!r} is not a secret field of {connector!r}, so it cannot "
            f"come from an environment variable. Pass its value instead: {plain} VALUE.",
            field=".".join(field_path),
            connector=connector,
        )
    return field_path, reference


def apply_connector_flags(
    config: Mapping[str, Any], flags: list[ConnectorFlag], *, schema: Mapping[str, Any], connector: str
) -> dict[str, Any]:
    """A copy of ``config`` with every flag written in, in the order given (later flags win)."""
    result = copy.deepcopy(dict(config))
    for flag in flags:
        path, value = _resolve_flag(flag, schema, connector)
        _set(result, path, value, flag.flag)
    return result
