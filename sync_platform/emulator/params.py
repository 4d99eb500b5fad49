"""Decodes Stripe's bracketed form and query parameters into nested values.

The SDK sends ``created[gte]=1``, ``types[0]=a&types[1]=b`` and ``metadata[key]=v`` (curl users
write ``types[]=a``); this turns such pairs into ``{"created": {"gte": "1"}, "types": ["a", "b"]}``.
Values stay strings: each endpoint converts the parameters it knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sync_platform.emulator.errors import ApiError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested parameters from ``(key, value)`` pairs in request order."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise ApiError(400, f"Invalid parameter name: {key}", code="parameter_unknown", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        _insert(root, path, value)
    decoded = _lists_from_indexed_dicts(root)
    return decoded if isinstance(decoded, dict) else {}


def _insert(node: dict[str, Any], path: list[str], value: str) -> None:
    *parents, last = path
    for position, part in enumerate(parents):
        if path[position + 1] == "":  # ``a[]=v`` appends; only valid as the last bracket
            if position + 2 != len(path):
                raise ApiError(400, f"Invalid array parameter: {path[0]}", param=path[0])
            values = node.setdefault(part, [])
            if not isinstance(values, list):
                raise ApiError(400, f"Invalid array parameter: {path[0]}", param=path[0])
            values.append(value)
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ApiError(400, f"Invalid hash parameter: {path[0]}", param=path[0])
        node = child
    if last == "" or isinstance(node.get(last), dict | list):
        raise ApiError(400, f"Invalid parameter: {path[0]}", param=path[0])
    node[last] = value


def _lists_from_indexed_dicts(value: Any) -> Any:
    """``{"0": a, "1": b}`` -> ``[a, b]`` (the SDK always sends arrays with explicit indices)."""
    if isinstance(value, list):
        return [_lists_from_indexed_dicts(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _lists_from_indexed_dicts(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
