"""Where the secrets sit in a connector config, found from its JSON schema, and their stored shapes.

A connector marks a secret field the way pydantic does for ``SecretStr`` (``"format": "password"``,
``"writeOnly": true``). In the pipeline store a secret is never plaintext: it is either a reference
to an environment variable, ``{"env": "STRIPE_API_KEY"}``, or ``{"encrypted": "<Fernet token>"}``
(see ``vault``). This module only finds secrets and recognises those shapes; it holds no key.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ConfigPath = tuple[str | int, ...]

_MAX_DEPTH = 64
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_SINGLES = ("additionalProperties", "items", "contains", "not", "then", "else", "propertyNames")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def render_path(path: ConfigPath) -> str:
    """``("webhook_secret", 1)`` -> ``"webhook_secret.1"``, the form config errors use."""
    return ".".join(str(part) for part in path)


# --- references ---------------------------------------------------------------------------------


def is_env_reference(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"encrypted"} and isinstance(value["encrypted"], str)


def is_reference(value: Any) -> bool:
    """Whether ``value`` is a stored secret form rather than a plaintext string."""
    return is_env_reference(value) or is_encrypted(value)


def reference_problem(value: Any) -> str | None:
    """Why ``value`` (a dict where a secret belongs) is not a valid secret reference, or None."""
    if is_env_reference(value):
        if not ENV_NAME.match(value["env"]):
            return (
                "`env` must name an environment variable (letters, digits and _, not starting with a digit)"
            )
        return None
    if is_encrypted(value):
        return None if value["encrypted"] else "`encrypted` must be a non-empty Fernet token"
    return 'a secret must be a string, {"env": "NAME"} or {"encrypted": "<token>"}'


# --- schema walking -----------------------------------------------------------------------------


def _is_secret_schema(node: Mapping[str, Any]) -> bool:
    if node.get("writeOnly") is not True and node.get("format") != "password":
        return False
    declared = node.get("type", "string")
    return declared == "string" or (isinstance(declared, list) and "string" in declared)


def _lookup(root: Mapping[str, Any], ref: str) -> Any:
    """A local ``#/...`` JSON pointer inside ``root``; None for anything else (remote refs)."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def secret_paths(schema: Mapping[str, Any], config: Any) -> list[ConfigPath]:
    """The paths in ``config`` whose value sits where ``schema`` declares a secret string.

    The walk follows the instance, so only secrets that are present are returned; in a union
    (``anyOf``/``oneOf``) every branch is tried, which can only over-approximate: treating a
    value as secret when one branch says so errs on the side of not printing it.
    """
    found: dict[ConfigPath, None] = {}

    def walk(node: Any, value: Any, path: ConfigPath, depth: int) -> None:
        if depth > _MAX_DEPTH or not isinstance(node, Mapping):
            return
        if _is_secret_schema(node):
            if isinstance(value, str | dict):
                found[path] = None
            return
        if isinstance(node.get("$ref"), str):
            walk(_lookup(schema, node["$ref"]), value, path, depth + 1)
        for keyword in ("allOf", "anyOf", "oneOf"):
            for branch in node.get(keyword) or ():
                walk(branch, value, path, depth + 1)
        for keyword in ("then", "else"):
            walk(node.get(keyword), value, path, depth + 1)
        if isinstance(value, dict):
            properties = node.get("properties") or {}
            patterns = node.get("patternProperties") or {}
            for name, item in value.items():
                if name in properties:
                    walk(properties[name], item, (*path, name), depth + 1)
                    continue
                matching = [sub for pattern, sub in patterns.items() if re.search(pattern, name)]
                for sub in matching:
                    walk(sub, item, (*path, name), depth + 1)
                if not matching:
                    walk(node.get("additionalProperties"), item, (*path, name), depth + 1)
        elif isinstance(value, list):
            prefix = node.get("prefixItems") or []
            for index, item in enumerate(value):
                sub = prefix[index] if index < len(prefix) else node.get("items")
                walk(sub, item, (*path, index), depth + 1)

    walk(schema, config, (), 0)
    return list(found)


def stored_form_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` where every secret string also accepts a stored form (an object reference).

    Validation then checks a plaintext secret against the connector's own rules (pattern,
    length) and leaves a reference alone; references are checked separately with a precise
    message (``reference_problem``). ``default``, ``title`` and ``description`` stay on the outer
    node so default-filling still finds them.
    """

    def rewrite(node: Any) -> Any:
        if not isinstance(node, Mapping):
            return node
        if _is_secret_schema(node):
            outer = {key: node[key] for key in ("default", "title", "description") if key in node}
            inner = {key: value for key, value in node.items() if key != "default"}
            return {**outer, "if": {"type": "object"}, "then": {"type": "object"}, "else": inner}
        out = dict(node)
        for keyword in _SCHEMA_MAPS:
            if isinstance(out.get(keyword), Mapping):
                out[keyword] = {name: rewrite(sub) for name, sub in out[keyword].items()}
        for keyword in _SCHEMA_SINGLES:
            if isinstance(out.get(keyword), Mapping):
                out[keyword] = rewrite(out[keyword])
        for keyword in _SCHEMA_LISTS:
            if isinstance(out.get(keyword), list):
                out[keyword] = [rewrite(sub) for sub in out[keyword]]
        return out

    return dict(rewrite(copy.deepcopy(dict(schema))))


def get_at(config: Any, path: ConfigPath) -> Any:
    node = config
    for part in path:
        node = node[part]
    return node


def set_at(config: Any, path: ConfigPath, value: Any) -> None:
    get_at(config, path[:-1])[path[-1]] = value


def find_at(config: Any, path: ConfigPath) -> tuple[bool, Any]:
    """``(True, value)`` when ``path`` exists in ``config``, else ``(False, None)``."""
    node = config
    for part in path:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            return False, None
        node = node[part]
    return True, node


def iter_secret_values(config: Any, paths: list[ConfigPath]) -> Iterator[tuple[ConfigPath, Any]]:
    """``(path, value)`` for each path that exists in ``config``."""
    for path in paths:
        found, value = find_at(config, path)
        if found:
            yield path, value
