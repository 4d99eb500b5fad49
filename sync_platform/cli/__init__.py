"""The ``sync-platform`` command line. Commands register themselves on the ``cli`` group when
their module is imported, which the group does on first use (``app.COMMAND_MODULES``)."""

from sync_platform.gc_policy import favour_throughput

# Before any other import: the collector's default thresholds scan the ~700 modules a command
# imports ~175 times while they load (~30-40 ms of a sync's CPU).
favour_throughput()

from sync_platform.cli.app import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_FAILED, EXIT_INTERRUPTED, cli  # noqa: E402
from sync_platform.cli.context import CliContext  # noqa: E402
from sync_platform.cli.dev_env import load_block  # noqa: E402


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
