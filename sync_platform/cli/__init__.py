"""The ``sync-platform`` command line. Commands register themselves on the ``cli`` group."""

from sync_platform.cli import demo_command as _demo_command  # noqa: F401  (registers `demo`)
from sync_platform.cli import emulator_command as _emulator_command  # noqa: F401  (registers `emulator`)
from sync_platform.cli import sync_command as _sync_command  # noqa: F401  (registers `sync`)
from sync_platform.cli.app import cli


def main() -> None:
    cli(prog_name="sync-platform")


__all__ = ["cli", "main"]
