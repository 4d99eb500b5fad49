"""The ``sync-platform`` command line. Commands register themselves on the ``cli`` group when
their module is imported, which the group does on first use (``app.COMMAND_MODULES``)."""

from sync_platform.cli.app import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_FAILED, EXIT_INTERRUPTED, cli
from sync_platform.cli.context import CliContext
from sync_platform.cli.dev_env import load_block


def main() -> None:
    """The console script: a running ``make dev``'s ``.env`` block first (the shell's values win),
    so commands in the project directory use the dev stack's databases and keys."""
    load_block()
    cli(prog_name="sync-platform")


__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CONFLICT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "CliContext",
    "cli",
    "main",
]
