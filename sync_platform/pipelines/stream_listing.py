"""How a source's streams are listed to people: a name, a one-line description, the source's facts.

``sync-platform streams`` and ``GET /streams`` show the same list, from the source's offline
catalog (Stripe's comes from the installed SDK), the one ``pipelines create`` checks names against.
"""

from __future__ import annotations

import re
from typing import Any

from sync_platform.protocol import Stream

_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[\w)`][.!?])\s+(?=[A-Z`])")


def one_line(description: str | None) -> str:
    """The first sentence of a (markdown) description, links reduced to their text."""
    text = " ".join(_MARKDOWN_LINK.sub(r"\1", description or "").split())
    return _SENTENCE_END.split(text, maxsplit=1)[0]


def stream_description(stream: Stream) -> str:
    """What the source says a stream holds: its metadata's description, else its schema's."""
    for holder in (stream.metadata, stream.json_schema):
        described = (holder or {}).get("description")
        if isinstance(described, str) and described.strip():
            return one_line(described)
    return ""


def stream_json(stream: Stream) -> dict[str, Any]:
    """``{name, description, primary_key, metadata}``: metadata is the source's own facts per stream
    (for Stripe: list path, event types, whether listing filters by ``created``, nested lists)."""
    return {
        "name": stream.name,
        "description": stream_description(stream),
        "primary_key": stream.primary_key_fields(),
        "metadata": stream.metadata or {},
    }
