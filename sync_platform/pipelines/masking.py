"""The output form of a stored connector config: tokens masked, env references shown as they are."""

from __future__ import annotations

import copy
from typing import Any

from sync_platform.pipelines.secret_fields import ConfigPath, find_at, is_encrypted, is_env_reference, set_at
from sync_platform.redaction import MASK, redact


def mask_config(value: Any) -> Any:
    """A copy of a stored config fit for output: tokens become ``***``, env references stay.

    Needs no schema, because the store never holds a plaintext secret: every encrypted token is
    recognisable by its shape. Strings also pass through ``redact`` as a second net (a password
    inside a URL field that a connector forgot to declare secret).
    """
    if is_encrypted(value):
        return MASK
    if isinstance(value, dict):
        return {key: mask_config(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_config(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


def mask_paths(config: Any, paths: list[ConfigPath]) -> Any:
    """A copy of a plaintext config with the values at ``paths`` replaced by ``***``."""
    masked = copy.deepcopy(config)
    for path in paths:
        found, value = find_at(masked, path)
        if found and not is_env_reference(value):
            set_at(masked, path, MASK)
    return mask_config(masked)
