"""Which ``stripe`` release the catalog is for, and the API version it pins, without importing it.

Importing the SDK costs ~0.25 s of CPU (its services and types, and the HTTP libraries it brings:
requests, httpx, urllib3), and a sync needs none of it: its requests go through aiohttp (``http``)
and its catalog comes from the committed index (``catalog_index``). So the installed release is
read from the package's metadata, and its API version from the index, which records the one that
release pins next to the release it was built from. Only when the index was built from another
release (or is missing) is the SDK imported to ask it, and then the catalog is read from the SDK
anyway.
"""

from __future__ import annotations

import functools
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

INDEX_PATH = Path(__file__).with_name("catalog_index.json")


@functools.cache
def installed_version() -> str:
    """The installed SDK's release, as ``stripe.VERSION`` says it (a test checks they agree)."""
    return version("stripe")


@functools.cache
def read_index(path: Path = INDEX_PATH) -> dict[str, Any] | None:
    """The index document at ``path``, parsed once per process (None when missing or not JSON).

    Both the API version (at import) and the catalog (on first use) come from it: one read serves
    both. Callers must not change the document.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def api_version(index_path: Path = INDEX_PATH) -> str:
    """The API version the installed SDK pins (``stripe.api_version``), from the index when it was
    built from the installed release, else from the SDK itself."""
    index = read_index(index_path)
    if index is not None and index.get("stripe_version") == installed_version():
        recorded = index.get("api_version")
        if isinstance(recorded, str):
            return recorded
    import stripe  # the index is another release's (or older than this field): only the SDK knows

    return stripe.api_version
