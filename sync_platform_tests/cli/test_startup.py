"""A command loads only what it uses, so ``sync-batch`` starts without the service, demo or dev stack."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
HEAVY = ("fastapi", "jinja2", "uvicorn", "httpx", "sync_platform.cli.demo_flow", "sync_platform.cli.remote")
from click.testing import CliRunner
from sync_platform.cli import cli
result = CliRunner().invoke(cli, [{command!r}, "--help"])
assert result.exit_code == 0, result.output
heavy = sorted(m for m in HEAVY if m in sys.modules)
print(",".join(heavy))
"""


def _heavy_modules_loaded_by(command: str) -> str:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE.format(command=command)], capture_output=True, text=True, check=True
    )
    return probe.stdout.strip()


def test_sync_batch_starts_without_loading_the_http_service_the_remote_client_or_the_demo() -> None:
    assert _heavy_modules_loaded_by("sync-batch") == ""


def test_serve_still_finds_its_command_when_asked() -> None:
    assert "fastapi" in _heavy_modules_loaded_by("serve")
