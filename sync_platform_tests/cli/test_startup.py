"""A command loads only what it uses, so ``sync-batch`` starts without the service, demo or dev stack,
and syncs Stripe without the ``stripe`` SDK (~0.25 s of CPU to import, for a catalog it reads from
the committed index and requests it sends through aiohttp)."""

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


# What ``sync-batch`` does with a Stripe pipeline before its first request: the command, both
# connectors by name, the config checked (its streams against the catalog), the catalog read.
SYNC_PROBE = """
import sys
from click.testing import CliRunner
from sync_platform.cli import cli
from sync_platform.engine import default_registry
from sync_platform.sources.stripe import catalog_payload, stripe_catalog
assert CliRunner().invoke(cli, ["sync-batch", "--help"]).exit_code == 0
registry = default_registry()
source = registry.source("stripe")
registry.destination("postgres")
source.spec()
source.validate_config({"api_key": "sk_test_startup", "connected_streams": ["customer", "invoice"]})
assert len(stripe_catalog()) == len(catalog_payload(["acct_1"]).streams) > 50
print("stripe" in sys.modules)
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


def test_a_stripe_sync_reads_its_catalog_without_importing_the_stripe_sdk() -> None:
    """The committed catalog index matches the installed SDK (another test checks), so nothing on the
    sync path needs the SDK itself: not the catalog, the API version, nor the stream definitions."""
    probe = subprocess.run([sys.executable, "-c", SYNC_PROBE], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"
