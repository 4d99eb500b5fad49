"""What the stripe SDK's source text says that its runtime objects do not: imports and docstrings.

The SDK imports most cross-references under ``if TYPE_CHECKING:`` (so ``"Subscription"`` in an
annotation is a bare string at run time), and documents each attribute with a string literal placed
after it, which Python discards. Both are recovered here from the module's source text; nothing
is evaluated.

The SDK is generated code with one fixed layout, so a line scanner reads it: parsing the ~450
modules the catalog touches with ``ast`` takes seconds, the scanner a fraction of that. The test
suite checks the scanner against ``ast`` on the modules the catalog uses.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from types import ModuleType
from typing import Any

from sync_platform.errors import SyncPlatformError

_IMPORT = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.MULTILINE)
_CLASS = re.compile(r"class[ \t]+(\w+)\b")
_ATTRIBUTE = re.compile(r"(\w+)[ \t]*:[ \t]*\S")
_QUOTES = '"""'


class SdkIntrospectionError(SyncPlatformError, LookupError):
    """The installed stripe SDK does not have the shape this introspection expects."""


@functools.cache
def _module_source(module_name: str) -> str:
    return inspect.getsource(importlib.import_module(module_name))


@functools.cache
def _module_imports(module_name: str) -> dict[str, tuple[str, str]]:
    """Every ``from X import Y [as Z]`` in the module, TYPE_CHECKING blocks included: Z -> (X, Y)."""
    imports: dict[str, tuple[str, str]] = {}
    for match in _IMPORT.finditer(_module_source(module_name)):
        source_module, names = match.group(1), match.group(2).strip("()")
        for item in names.split(","):
            parts = item.split("#", 1)[0].split()
            if len(parts) == 1:
                imports[parts[0]] = (source_module, parts[0])
            elif len(parts) == 3 and parts[1] == "as":
                imports[parts[2]] = (source_module, parts[0])
    return imports


def resolve_name(module: ModuleType | str, name: str) -> Any:
    """The object ``name`` denotes inside ``module``, as if its TYPE_CHECKING imports had run."""
    module_name = module if isinstance(module, str) else module.__name__
    loaded = importlib.import_module(module_name)
    if hasattr(loaded, name):
        return getattr(loaded, name)
    try:
        source_module, attribute = _module_imports(module_name)[name]
    except KeyError:
        raise SdkIntrospectionError(f"{name!r} is neither defined nor imported in {module_name}") from None
    return getattr(importlib.import_module(source_module), attribute)


@functools.cache
def docstrings_by_class(module_name: str) -> dict[str, dict[str, str]]:
    """``{class qualname: {attribute: docstring}}`` for every class in the module, nested ones too.

    A class's body indent is the indent of its first line after the ``class`` line; an attribute is a
    ``name: annotation`` line at exactly that indent, and its docstring is a triple-quoted string
    that starts at the same indent before any other statement of that body.
    """
    found: dict[str, dict[str, str]] = {}
    classes: list[tuple[int, int | None, str]] = []  # (class line indent, body indent, qualname)
    pending: tuple[str, str, int] | None = None  # (qualname, attribute, indent) awaiting a docstring
    lines = _module_source(module_name).splitlines()
    index = 0
    while index < len(lines):
        text = lines[index].lstrip()
        indent = len(lines[index]) - len(text)
        index += 1
        if not text or text.startswith("#"):
            continue
        while classes and indent <= classes[-1][0]:
            classes.pop()
        if classes and classes[-1][1] is None:
            classes[-1] = (classes[-1][0], indent, classes[-1][2])
        if text.startswith(_QUOTES):
            docstring, index = _read_docstring(text, lines, index)
            if pending is not None and pending[2] == indent:
                found[pending[0]][pending[1]] = inspect.cleandoc(docstring)
            pending = None
            continue
        in_body = bool(classes) and classes[-1][1] == indent
        if (match := _CLASS.match(text)) is not None:
            qualname = f"{classes[-1][2]}.{match.group(1)}" if classes else match.group(1)
            classes.append((indent, None, qualname))
            found.setdefault(qualname, {})
            pending = None
            while not text.rstrip().endswith(":") and index < len(lines):  # a header over several lines
                text, index = lines[index], index + 1
        elif in_body:
            attribute = _ATTRIBUTE.match(text)
            pending = (classes[-1][2], attribute.group(1), indent) if attribute else None
            depth = _bracket_depth(text)
            while depth > 0 and index < len(lines):  # an annotation over several lines
                depth, index = depth + _bracket_depth(lines[index]), index + 1
    return found


def _bracket_depth(text: str) -> int:
    return sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")


def _read_docstring(first: str, lines: list[str], index: int) -> tuple[str, int]:
    """The text of a triple-quoted string starting on ``first``, and the index of the line after it."""
    rest = first[len(_QUOTES) :]
    if _QUOTES in rest:
        return rest[: rest.index(_QUOTES)], index
    parts = [rest]
    while index < len(lines):
        line = lines[index]
        index += 1
        if _QUOTES in line:
            parts.append(line[: line.index(_QUOTES)])
            break
        parts.append(line)
    return "\n".join(parts), index


def attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstring written under each annotated attribute of ``cls`` (attributes without one are absent)."""
    return docstrings_by_class(cls.__module__).get(cls.__qualname__, {})


def class_summary(cls: type) -> str | None:
    """The first paragraph of a class docstring, on one line (None when the class has none)."""
    if cls.__doc__ is None:
        return None
    doc = inspect.cleandoc(cls.__doc__)
    return " ".join(doc.split("\n\n", 1)[0].split()) or None
