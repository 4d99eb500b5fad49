"""Validates connector configs against the connector's JSON-schema spec, filling in defaults.

The spec is plain JSON schema (not a pydantic model) so third-party connectors written in any style
work. Error messages name the field and the rule it broke but never echo the value: config values
include API keys and passwords.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from sync_platform.errors import ConfigError


def _fill_defaults(validator_class: type[Draft202012Validator]) -> Any:
    """A validator class whose ``properties`` check first writes each missing property's default."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: dict[str, Any], instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _fill_defaults(Draft202012Validator)


def _describe(error: ValidationError) -> str:
    """The broken rule in words, built from the schema side only so no secret value is quoted."""
    rule, expected = error.validator, error.validator_value
    match rule:
        case "type":
            return f"must be of type {expected}"
        case "required" | "additionalProperties" | "dependentRequired":
            return error.message
        case "enum":
            return f"must be one of {', '.join(repr(v) for v in expected)}"
        case "const":
            return f"must be {expected!r}"
        case "pattern":
            return f"must match the pattern {expected}"
        case "minimum" | "exclusiveMinimum" | "maximum" | "exclusiveMaximum":
            symbol = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
            return f"must be {symbol[str(rule)]} {expected}"
        case "minLength" | "maxLength" | "minItems" | "maxItems":
            return f"violates {rule}={expected}"
        case "anyOf" | "oneOf":
            return "does not match any of the allowed forms"
        case "format":
            return f"must be a valid {expected}"
        case _:
            return f"fails the {rule!r} rule"


def validate_config(
    schema: dict[str, Any], raw: dict[str, Any] | None, *, connector: str, side: str
) -> dict[str, Any]:
    """Return a validated deep copy of ``raw`` with defaults applied, or raise ``ConfigError``.

    ``side`` is "source" or "destination" and only shapes the message.
    """
    instance = copy.deepcopy(raw or {})
    validator = _DefaultFillingValidator(schema)
    errors = list(validator.iter_errors(instance))
    if errors:
        error = best_match(errors)
        field = ".".join(str(part) for part in error.absolute_path) or None
        where = f" at {field!r}" if field else ""
        raise ConfigError(
            f"Invalid {side} config for {connector!r}{where}: {_describe(error)}.",
            field=field,
            connector=connector,
        )
    return instance
