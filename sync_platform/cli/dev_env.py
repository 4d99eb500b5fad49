"""The dev stack's block in ``./.env``: what ``dagster`` and a second terminal need, secrets by reference.

``sync-platform dev`` writes the block when the stack is up and removes it when the stack stops.
Dagster loads ``.env`` from the working directory before it looks for ``DAGSTER_HOME`` (every
``dagster`` command does), and ``sync-platform`` loads the same block at start-up, so in the
project directory ``dagster sensor list`` and ``sync-platform pipelines create …`` work with
nothing exported by hand.

Nothing secret is written in clear: the key that encrypts pipeline secrets and the emulator's
Stripe key are 0600 files under the platform home, named by ``<NAME>_FILE`` variables (see
``pipelines.env_secret``); a database URL that holds a password is left out, with a comment
saying to export it. Lines outside the block are the user's and are kept as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

BEGIN = "# >>> sync-platform dev: written while `make dev` runs, removed when it stops"
END = "# <<< sync-platform dev"
DEV_PID_ENV = "SYNC_PLATFORM_DEV_PID"
LOCAL_STRIPE_URL_ENV = "SYNC_PLATFORM_LOCAL_STRIPE_URL"
"""Set while the dev stack runs on the emulator: new Stripe pipelines default to it."""
LOCAL_RECEIVER_URL_ENV = "SYNC_PLATFORM_LOCAL_RECEIVER_URL"
"""Set while the dev stack runs on the emulator: new Stripe pipelines get webhooks there."""


def env_path(directory: Path | None = None) -> Path:
    return (directory or Path.cwd()) / ".env"


def block_lines(variables: Mapping[str, str | None], comments: Mapping[str, str]) -> list[str]:
    """``NAME=value`` lines; a variable whose value is None becomes a ``# NAME: why`` comment."""
    lines = [BEGIN]
    for name, value in variables.items():
        lines.append(f"{name}={value}" if value is not None else f"# {name}: {comments[name]}")
    return [*lines, END]


def url_without_password(url: str) -> str | None:
    """``url`` if it carries no password (safe to write down), else None."""
    return None if urlsplit(url).password else url


def write_block(path: Path, lines: list[str]) -> None:
    """Put the block in ``path`` (replacing an earlier one), keeping every other line."""
    kept = _without_block(path.read_text().splitlines() if path.exists() else [])
    path.write_text("\n".join([*kept, *lines]) + "\n")


def remove_block(path: Path) -> None:
    """Take the block out of ``path``; delete the file if nothing else was in it."""
    if not path.exists():
        return
    kept = _without_block(path.read_text().splitlines())
    if any(line.strip() for line in kept):
        path.write_text("\n".join(kept) + "\n")
    else:
        path.unlink()


def read_block(path: Path) -> dict[str, str]:
    """The variables of the block, if the ``dev`` process that wrote it is still running."""
    if not path.exists():
        return {}
    variables: dict[str, str] = {}
    inside = False
    for line in path.read_text().splitlines():
        if line == BEGIN:
            inside = True
        elif line == END:
            inside = False
        elif inside and "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            variables[name.strip()] = value.strip()
    pid = variables.get(DEV_PID_ENV, "")
    if not pid.isdigit():
        return {}
    import psutil  # here, not at the top: every command reads this file, few find a block (~10 ms)

    if not psutil.pid_exists(int(pid)):
        return {}  # left behind by a dev stack that was killed: its databases are gone
    return variables


def load_block(path: Path | None = None, environ: dict[str, str] | None = None) -> None:
    """Set the running dev stack's variables that are not set already (the shell's win)."""
    target = os.environ if environ is None else environ
    for name, value in read_block(path or env_path()).items():
        target.setdefault(name, value)


def _without_block(lines: list[str]) -> list[str]:
    kept, inside = [], False
    for line in lines:
        if line == BEGIN:
            inside = True
        elif line == END:
            inside = False
        elif not inside:
            kept.append(line)
    return kept
