"""Parsing helpers shared by CLI commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def load_document(value: str | None, *, option: str) -> Any:
    """Inline JSON (``{...}``/``[...]``), or ``@path`` / a path to a JSON or YAML file."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise click.BadParameter(
                f"not valid JSON: {error.msg} (column {error.colno})", param_hint=option
            ) from None
    path = Path(text[1:] if text.startswith("@") else text)
    if not path.is_file():
        raise click.BadParameter(
            f"expected inline JSON or a file path, and {path} is not a file", param_hint=option
        )
    if path.suffix not in (".yaml", ".yml"):
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise _unparsable(path, error, option) from None
    import yaml  # here, not at the top: every command imports this module, few read YAML (~8 ms)

    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise _unparsable(path, error, option) from None


def _unparsable(path: Path, error: Exception, option: str) -> click.BadParameter:
    return click.BadParameter(f"{path} could not be parsed: {error}", param_hint=option)


def split_names(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None (meaning "all")."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    return names or None


def split_given_names(value: str | None) -> list[str] | None:
    """Like ``split_names``, except that a value naming nothing (``--streams ""``) is ``[]``.

    For options whose "all" is spelt otherwise (leaving ``--streams`` out, ``--all-streams``): an
    empty value, such as an unset shell variable, then reaches the store, which refuses it, instead
    of quietly widening the pipeline to every stream.
    """
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]
