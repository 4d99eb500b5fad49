"""Form fields from a connector's config JSON schema: what the console's create and edit pages show.

Every connector describes its config as JSON schema (``spec().config``), so the console needs no
per-connector form: a string is a text box, an enum a select, a boolean a checkbox, a number a
number box, a list of strings a comma-separated box, a nested object a group of fields, anything
else a JSON box. A secret (``format: password`` / ``writeOnly``, as pydantic marks ``SecretStr``) is a
password box that can instead name an environment variable (stored as ``{"env": NAME}``); when
editing, a stored secret is never sent to the page: leaving the box empty keeps it (``***``).

Fields with a default value go under "More settings", so the form opens on what is usually decided
(optional fields without a default, such as a Postgres URL, stay in view).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync_platform.pipelines.secret_fields import is_env_reference
from sync_platform.redaction import MASK

MAX_DEPTH = 4


@dataclass
class FormField:
    """One input of a connector's config form; ``path`` is its dotted place in the config."""

    path: str
    label: str
    description: str = ""
    kind: str = "text"  # text, secret, number, integer, boolean, select, list, json
    required: bool = False
    default: Any = None
    options: list[str] = field(default_factory=list)
    pattern: str | None = None
    value: Any = None  # the current value (edit), as the input shows it
    env_name: str | None = None  # a secret held as {"env": NAME}
    stored: bool = False  # a secret stored encrypted: empty keeps it
    advanced: bool = False

    @property
    def input_value(self) -> str:
        """The text the input starts with (never a secret: secrets start empty)."""
        value = self.value if self.value is not None else self.default
        if self.kind == "secret" or value is None:
            return ""
        if self.kind == "list" and isinstance(value, list):
            return ", ".join(str(item) for item in value)
        if self.kind == "json":
            import json

            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    @property
    def checked(self) -> bool:
        value = self.value if self.value is not None else self.default
        return value is True


def _resolve(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    """``node`` with a local ``$ref`` followed (pydantic puts nested models under ``$defs``)."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 10:
        ref = node["$ref"]
        target: Any = root
        for part in ref.removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node if isinstance(node, dict) else {}


def _is_secret(node: dict[str, Any]) -> bool:
    return node.get("format") == "password" or node.get("writeOnly") is True


def _main_form(node: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The alternative a field is edited as (the first non-null one of an ``anyOf``), and whether
    the field may be null."""
    alternatives = node.get("anyOf") or node.get("oneOf")
    if not isinstance(alternatives, list):
        return node, False
    forms = [_resolve(alt, root) for alt in alternatives]
    nullable = any(form.get("type") == "null" for form in forms)
    concrete = [form for form in forms if form.get("type") != "null"]
    if not concrete:
        return node, nullable
    main = {**concrete[0], **{k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}}
    if any(_is_secret(form) for form in concrete):
        main["format"] = "password"
    return main, nullable


def _kind(node: dict[str, Any]) -> str:
    if _is_secret(node):
        return "secret"
    if "enum" in node:
        return "select"
    kind = node.get("type")
    if kind == "boolean":
        return "boolean"
    if kind in ("integer", "number"):
        return str(kind)
    if kind == "array":
        items = node.get("items") or {}
        return "list" if isinstance(items, dict) and items.get("type") == "string" else "json"
    if kind == "string":
        return "text"
    return "json"


def form_fields(
    schema: dict[str, Any], values: dict[str, Any] | None = None, *, prefix: str = "", depth: int = 0
) -> list[FormField]:
    """The fields of ``schema`` (a connector's config schema) in order, prefilled from ``values``
    (a masked stored config, when editing)."""
    return _fields(schema, schema, values or {}, prefix, depth)


def _fields(
    node: dict[str, Any], root: dict[str, Any], values: dict[str, Any], prefix: str, depth: int
) -> list[FormField]:
    node = _resolve(node, root)
    required = set(node.get("required") or ())
    fields: list[FormField] = []
    for name, raw in (node.get("properties") or {}).items():
        sub, _nullable = _main_form(_resolve(raw, root), root)
        path = f"{prefix}{name}"
        value = values.get(name)
        if sub.get("type") == "object" and sub.get("properties") and depth < MAX_DEPTH:
            nested = value if isinstance(value, dict) else {}
            fields.extend(_fields(sub, root, nested, f"{path}.", depth + 1))
            continue
        kind = _kind(sub)
        spec = FormField(
            path=path,
            label=str(sub.get("title") or name.replace("_", " ").capitalize()),
            description=str(sub.get("description") or ""),
            kind=kind,
            required=name in required,
            default=sub.get("default"),
            options=[str(option) for option in sub.get("enum") or ()],
            pattern=sub.get("pattern") if isinstance(sub.get("pattern"), str) else None,
            advanced=sub.get("default") is not None and name not in required,
        )
        if kind == "secret":
            if is_env_reference(value):
                spec.env_name = str(value["env"])
            elif value == MASK or (isinstance(value, list) and value):
                spec.stored = True
        elif value is not None:
            spec.value = value
        fields.append(spec)
    return fields
