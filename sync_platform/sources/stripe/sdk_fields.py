"""The fields of a stripe SDK object class, as a small typed model built from its annotations.

Both the catalog's JSON schemas and the emulator's data generator read this model, so "what a
customer looks like" is decided once, from the installed SDK. The SDK's annotations are plain
``typing`` objects: ``ExpandableField[X]`` arrives as ``Union[str, X]``, ``ListObject[X]`` keeps its
class, nested ``StripeObject`` classes are real classes, and references to other resources are
``ForwardRef`` strings resolved through the module's TYPE_CHECKING imports. The model itself
(``FieldKind``, ``FieldType``, ``FieldDefinition``) is in ``field_model``, which needs no SDK.
"""

from __future__ import annotations

import dataclasses
import decimal
import functools
import inspect
import re
import types
import typing
from typing import Any, ForwardRef

from stripe import ListObject, StripeObject
from stripe._stripe_object import UntypedStripeObject

from sync_platform.sources.stripe.field_model import FieldDefinition, FieldKind, FieldType
from sync_platform.sources.stripe.sdk_source import SdkIntrospectionError, attribute_docstrings, resolve_name

# the model travels with its reader: the emulator imports both from here
__all__ = ["FieldDefinition", "FieldKind", "FieldType", "is_timestamp", "object_fields"]

# A timestamp in Stripe is an ``int`` of unix seconds, and the SDK types it as plain ``int``. We call an
# integer a timestamp when its docstring says so in one of the phrasings Stripe's reference uses
# ("Time at which…", "Measured in seconds since the Unix epoch", "Date by which…"), or when its name
# follows Stripe's naming for instants (``created``, ``*_at``, ``*_date``, ``*_time``, period and trial
# bounds). Counts, amounts and durations are excluded by name, and millisecond values by docstring.
_TIMESTAMP_DOC = re.compile(
    r"time at which|unix epoch|unix timestamp|timestamp|seconds since|"
    r"\bdate (?:on|at|by|after) which|\b(?:date|time) (?:when|that|the)\b",
    re.IGNORECASE,
)
_TIMESTAMP_NAME = re.compile(
    r"^(?:created|updated|date|start|end|.+_at|.+_date|.+_time|.+_on|due_by|redeem_by|"
    r"(?:current_)?period_(?:start|end)|trial_(?:start|end)|billing_cycle_anchor|next_payment_attempt|"
    r"effective_(?:at|until)|expires|valid_until)$"
)
_NOT_TIMESTAMP_NAME = re.compile(
    r"(?:^|_)(?:amount|count|quantity|days|months|minutes|seconds|hour|duration|offset)(?:_|$)"
)
_NOT_TIMESTAMP_DOC = re.compile(r"milliseconds", re.IGNORECASE)


def is_timestamp(name: str, description: str | None) -> bool:
    """Whether an ``int`` attribute holds unix seconds (the rule is described above)."""
    if _NOT_TIMESTAMP_NAME.search(name) or (description and _NOT_TIMESTAMP_DOC.search(description)):
        return False
    return bool(_TIMESTAMP_NAME.match(name)) or bool(description and _TIMESTAMP_DOC.search(description))


@functools.cache
def object_fields(cls: type) -> tuple[FieldDefinition, ...]:
    """Every annotated attribute of an SDK object class (own and inherited StripeObject ones), by name."""
    docs = attribute_docstrings(cls)
    fields: list[FieldDefinition] = []
    for name, annotation in sorted(_annotations(cls).items()):
        if name.startswith("_") or name.isupper() or typing.get_origin(annotation) is typing.ClassVar:
            continue
        description = docs.get(name)
        field_type = _convert(annotation, cls, name, description)
        fields.append(FieldDefinition(name=name, type=field_type, description=description))
    return tuple(fields)


def _annotations(cls: type) -> dict[str, Any]:
    annotations: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if base is cls or (issubclass(base, StripeObject) and base is not StripeObject):
            annotations.update(inspect.get_annotations(base))
    return annotations


def _convert(annotation: Any, owner: type, name: str, description: str | None) -> FieldType:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        nullable = len(members) < len(args)
        converted = _convert_union(members, owner, name, description)
        return dataclasses.replace(converted, nullable=converted.nullable or nullable)
    return _convert_single(annotation, owner, name, description)


def _convert_union(members: list[Any], owner: type, name: str, description: str | None) -> FieldType:
    if len(members) == 1:
        return _convert(members[0], owner, name, description)
    literals = [value for member in members if typing.get_origin(member) is typing.Literal
                for value in typing.get_args(member)]  # fmt: skip
    others = [member for member in members if typing.get_origin(member) is not typing.Literal]
    if literals and all(other is str for other in others):
        return FieldType(FieldKind.STRING, enum=tuple(literals), open_enum=bool(others))
    resources = [_resolve(member, owner) for member in others if member is not str]
    if all(isinstance(r, type) and issubclass(r, StripeObject) for r in resources):
        if str in others:  # ExpandableField[X] = Union[str, X]: an id unless the caller expands it
            return FieldType(FieldKind.STRING, expandable=True, references=tuple(resources))
        return FieldType(FieldKind.OBJECT, references=tuple(resources))
    kinds = {_convert(member, owner, name, description).kind for member in members}
    if kinds <= {FieldKind.INTEGER, FieldKind.NUMBER}:
        return FieldType(FieldKind.NUMBER)
    return FieldType(FieldKind.ANY)


def _convert_single(annotation: Any, owner: type, name: str, description: str | None) -> FieldType:
    annotation = _resolve(annotation, owner)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        if all(isinstance(value, bool) for value in args):
            return FieldType(FieldKind.BOOLEAN)
        if all(isinstance(value, int) for value in args):
            return FieldType(FieldKind.INTEGER, enum=args)
        return FieldType(FieldKind.STRING, enum=args)
    if origin is list:
        return FieldType(FieldKind.ARRAY, item=_convert(args[0], owner, name, None))
    if origin in (dict, typing.Mapping) or annotation is dict:
        value = _convert(args[1], owner, name, None) if len(args) == 2 else FieldType(FieldKind.ANY)
        return FieldType(FieldKind.OBJECT, item=value)
    if isinstance(origin, type) and issubclass(origin, ListObject):
        return FieldType(FieldKind.LIST, item=_convert(args[0], owner, name, None))
    if isinstance(origin, type) and issubclass(origin, UntypedStripeObject):
        return FieldType(FieldKind.OBJECT, item=_convert(args[0], owner, name, None))
    return _convert_class(annotation, name, description)


def _convert_class(annotation: Any, name: str, description: str | None) -> FieldType:
    if annotation is bool:
        return FieldType(FieldKind.BOOLEAN)
    if annotation is int:
        return FieldType(FieldKind.INTEGER, unix_time=is_timestamp(name, description))
    if annotation is float:
        return FieldType(FieldKind.NUMBER)
    if annotation is str:
        return FieldType(FieldKind.STRING)
    if annotation is decimal.Decimal:
        return FieldType(FieldKind.DECIMAL)
    if annotation in (Any, object, StripeObject, UntypedStripeObject):
        return FieldType(FieldKind.OBJECT if annotation is not Any else FieldKind.ANY)
    if isinstance(annotation, type) and issubclass(annotation, StripeObject):
        if "." in annotation.__qualname__:  # a class nested in its resource: part of this object's shape
            return FieldType(FieldKind.OBJECT, inner=annotation)
        return FieldType(FieldKind.OBJECT, references=(annotation,))
    return FieldType(FieldKind.ANY)


def _resolve(annotation: Any, owner: type) -> Any:
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        try:
            return resolve_name(owner.__module__, annotation.__forward_arg__)
        except SdkIntrospectionError:
            return Any
    return annotation
