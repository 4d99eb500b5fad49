"""JSON that PostgreSQL can store, for every place that stores what an outside system sent.

PostgreSQL's ``jsonb`` and ``text`` cannot hold a NUL character or a lone UTF-16 surrogate, and JSON
has no NaN or infinity (Python's parser accepts them). A value carrying one of these is repaired,
never refused: such characters become U+FFFD and such numbers become null. Both the PostgreSQL
destination (for ``_raw_data`` and typed text) and the app database's webhook inbox apply this one
rule, so a signed event that Stripe will deliver again and again is stored (and applied) instead of
being answered "retry later" forever. ``nesting_depth`` lets a caller refuse absurdly deep input
before it reaches a recursive encoder.
"""

from __future__ import annotations

import math
import re
from typing import Any

UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def storable(value: Any) -> Any:
    """A copy of ``value`` PostgreSQL can store (see the module docstring); keys become strings."""
    if isinstance(value, str):
        return UNSTORABLE_CHARACTERS.sub(REPLACEMENT, value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def is_storable(value: Any) -> bool:
    """Whether ``value`` needs no repair (checked without copying)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE_CHARACTERS.search(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or UNSTORABLE_CHARACTERS.search(key):
                    return False
                pending.append(child)
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return True


def nesting_depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(item, list | tuple):
            pending.extend((child, depth + 1) for child in item)
            deepest = max(deepest, depth + 1)
    return deepest
