"""The ``sync-platform`` command line. Commands register themselves on the ``cli`` group."""

from sync_platform.cli import demo_command as _demo_command  # noqa: F401  (registers `demo`)
from sync_platform.cli import dev_command as _dev_command  # noqa: F401  (registers `dev`)
from sync_platform.cli import emulator_command as _emulator_command  # noqa: F401  (registers `emulator`)
from sync_platform.cli import pipelines_command as _pipelines_command  # noqa: F401  (`pipelines …`)
from sync_platform.cli import serve_command as _serve_command  # noqa: F401  (registers `serve`)
from sync_platform.cli import serve_webhooks_command as _serve_webhooks_command  # noqa: F401
from sync_platform.cli import streams_command as _streams_command  # noqa: F401  (registers `streams`)
from sync_platform.cli import sync_batch_command as _sync_batch_command  # noqa: F401  (`sync-batch`)
from sync_platform.cli import sync_command as _sync_command  # noqa: F401  (registers `sync`)
from sync_platform.cli import tokens_command as _tokens_command  # noqa: F401  (`tokens …`)
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
