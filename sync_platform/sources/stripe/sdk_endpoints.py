"""Every ``list`` endpoint of the stripe SDK's v1 services, found by walking ``StripeClient().v1``.

Each service module declares its children in a module-level ``_subservices`` table, and each
``list`` method builds its URL at call time. We call every ``list`` once against a requestor that
records the request instead of sending it, with ``{name}`` placeholders for path arguments, so the
paths come from the SDK itself rather than from a table of ours. The listed class comes from the
method's return annotation (``ListObject[InvoiceLineItem]``) and the query parameters from its
``*ListParams`` TypedDict.

Only v1 is walked: v2 lists paginate with opaque ``page`` tokens and report changes as thin events
to event destinations, not as ``/v1/events`` snapshots, so they fit neither the backfill nor the live
path of the source (see ``docs/emulator.md``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import typing
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stripe._request_options import RequestOptions

from sync_platform.sources.stripe.sdk_source import SdkIntrospectionError, resolve_name

V1_ROOT = ("stripe._v1_services", "V1Services")

# Parameters every list accepts for paging and expansion; any other REQUIRED parameter (a parent id
# such as ``subscription`` for subscription items) means the list cannot be synced on its own.
PAGING_PARAMS = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})
_REQUEST_OPTION_KEYS = frozenset(RequestOptions.__annotations__)


@dataclass(frozen=True)
class ListEndpoint:
    """One ``GET`` list endpoint: its path template, what it lists and which parameters it takes."""

    service: str  # dotted path on the client, e.g. "v1.invoices.line_items"
    path: str  # "/v1/invoices/{invoice}/lines"; path arguments in braces
    item_classes: tuple[type, ...]
    params: frozenset[str]
    required_params: frozenset[str]
    # the string values a parameter's annotation allows, where it is a Literal (``status``...)
    param_choices: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_top_level(self) -> bool:
        return "{" not in self.path

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(segment[1:-1] for segment in self.path.split("/") if segment.startswith("{"))

    @property
    def is_syncable_alone(self) -> bool:
        """A top-level list that needs nothing but paging parameters."""
        return self.is_top_level and self.required_params <= PAGING_PARAMS


class _RecordingRequestor:
    """Stands in for the SDK's HTTP requestor and remembers the one request it was asked to make."""

    def __init__(self) -> None:
        self.path: str | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        self.path = urllib.parse.unquote(url)


@functools.cache
def list_endpoints() -> tuple[ListEndpoint, ...]:
    """Every v1 list endpoint the installed SDK can call, in service-tree order."""
    found: list[ListEndpoint] = []
    _walk(*V1_ROOT, "v1", found)
    if not found:
        raise SdkIntrospectionError("the installed stripe SDK exposes no v1 list endpoints")
    return tuple(found)


def _walk(module_name: str, class_name: str, dotted: str, found: list[ListEndpoint]) -> None:
    module = importlib.import_module(module_name)
    service_class = getattr(module, class_name)
    if callable(getattr(service_class, "list", None)):
        found.append(_describe_list(service_class, dotted))
    for attribute, (child_module, child_class) in getattr(module, "_subservices", {}).items():
        _walk(child_module, child_class, f"{dotted}.{attribute}", found)


def _describe_list(service_class: Any, dotted: str) -> ListEndpoint:
    signature = inspect.signature(service_class.list)
    path_args = [
        f"{{{p.name}}}"
        for p in signature.parameters.values()
        if p.kind is p.POSITIONAL_ONLY and p.name != "self"
    ]
    requestor = _RecordingRequestor()
    service_class(requestor).list(*path_args, params={})
    if requestor.path is None:
        raise SdkIntrospectionError(f"{service_class.__name__}.list made no request")
    params_class = _resolve_annotation(signature.parameters["params"].annotation, service_class)
    return ListEndpoint(
        service=dotted,
        path=requestor.path,
        item_classes=_listed_classes(signature.return_annotation, service_class),
        params=_param_names(params_class, "__required_keys__", "__optional_keys__"),
        required_params=_param_names(params_class, "__required_keys__"),
        param_choices=_param_choices(params_class),
    )


def _resolve_annotation(annotation: Any, owner: type) -> Any:
    if isinstance(annotation, str):
        return resolve_name(owner.__module__, annotation)
    if isinstance(annotation, typing.ForwardRef):
        return resolve_name(owner.__module__, annotation.__forward_arg__)
    if typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _resolve_annotation(members[0], owner)
    return annotation


def _param_names(params_class: Any, *key_sets: str) -> frozenset[str]:
    names: set[str] = set()
    for key_set in key_sets:
        names |= set(getattr(params_class, key_set, ()))
    return frozenset(names - _REQUEST_OPTION_KEYS)


def _param_choices(params_class: Any) -> dict[str, frozenset[str]]:
    """``{"status": {"active", "all", ...}}``: the string literals in each parameter's annotation.

    The annotations are unevaluated strings (``"Literal['active', 'all']|str"``) inside
    ``NotRequired[...]``, so the literals are read with ``ast`` instead of evaluating them.
    """
    choices: dict[str, frozenset[str]] = {}
    for name, annotation in getattr(params_class, "__annotations__", {}).items():
        text = _annotation_text(annotation)
        if "Literal[" not in text:
            continue
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            continue
        values = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        if values:
            choices[name] = frozenset(values)
    return choices


def _annotation_text(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, typing.ForwardRef):
        return annotation.__forward_arg__
    inner = [_annotation_text(argument) for argument in typing.get_args(annotation)]
    return " | ".join(inner) if inner else repr(annotation)


def _listed_classes(return_annotation: Any, owner: type) -> tuple[type, ...]:
    """``"ListObject[Union[BankAccount, Card]]"`` -> the classes named inside ``ListObject[...]``."""
    text = return_annotation if isinstance(return_annotation, str) else str(return_annotation)
    tree = ast.parse(text, mode="eval").body
    if not (
        isinstance(tree, ast.Subscript) and isinstance(tree.value, ast.Name) and tree.value.id == "ListObject"
    ):
        raise SdkIntrospectionError(f"unexpected list return annotation {text!r} on {owner.__qualname__}")
    names = [node.id for node in ast.walk(tree.slice) if isinstance(node, ast.Name) and node.id != "Union"]
    return tuple(resolve_name(owner.__module__, name) for name in names)
