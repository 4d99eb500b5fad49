"""A command loads only what it uses, so ``sync-batch`` starts without the service, demo or dev stack,
and syncs Stripe without the ``stripe`` SDK (~0.25 s of CPU to import, for a catalog it reads from
the committed index and requests it sends through aiohttp)."""

from __future__ import annotations

import json
import subprocess
import sys

from sync_platform.cli.app import COMMAND_MODULES
from sync_platform.gc_policy import OLDER_THRESHOLDS, YOUNG_THRESHOLD

PROBE = """
import sys
HEAVY = (
    "fastapi", "jinja2", "uvicorn", "httpx", "sync_platform.cli.demo_flow", "sync_platform.cli.remote",
    "yaml", "psutil",  # a pipeline file in YAML, a process check: imported where they are used
)
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
    """Nor YAML's parser or psutil, which only a pipeline file or the embedded server's checks use."""
    assert _heavy_modules_loaded_by("sync-batch") == ""


def test_serve_still_finds_its_command_when_asked() -> None:
    assert "fastapi" in _heavy_modules_loaded_by("serve")


def test_a_stripe_sync_reads_its_catalog_without_importing_the_stripe_sdk() -> None:
    """The committed catalog index matches the installed SDK (another test checks), so nothing on the
    sync path needs the SDK itself: not the catalog, the API version, nor the stream definitions."""
    probe = subprocess.run([sys.executable, "-c", SYNC_PROBE], capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "False"


HELP_PROBE = """
import json, sys
import click
from click.testing import CliRunner
from sync_platform.cli import cli
from sync_platform.cli.app import COMMAND_MODULES
from sync_platform.gc_policy import OLDER_THRESHOLDS, YOUNG_THRESHOLD
listed = CliRunner().invoke(cli, ["--help"])
loaded = sorted(m for m in sys.modules if m.removeprefix("sync_platform.cli.") in COMMAND_MODULES.values())
heavy = sorted(m for m in ("fastapi", "uvicorn", "dagster", "sync_platform.emulator") if m in sys.modules)
ctx = click.Context(cli)
for name in COMMAND_MODULES:
    cli.get_command(ctx, name)
from_modules = CliRunner().invoke(cli, ["--help"])
print(json.dumps({"same": listed.output == from_modules.output, "loaded": loaded, "heavy": heavy,
                  "code": listed.exit_code, "text": listed.output}))
"""


def test_the_command_list_loads_no_command_and_reads_as_the_commands_would_list_themselves() -> None:
    """``sync-platform --help`` prints each command's line from its summary, without importing the
    command (the HTTP service, the demo, the dev stack: ~0.8 s of CPU for one screen), and the
    screen is exactly what click makes once every command is loaded: a summary that drifts from
    its command's help fails here."""
    probe = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, check=True)
    found = json.loads(probe.stdout)
    assert found["code"] == 0
    assert found["loaded"] == []
    assert found["heavy"] == []
    assert all(f"  {name} " in found["text"] for name in COMMAND_MODULES)
    assert found["same"], found["text"]


# How often the collector ran while the command line loaded a sync's modules, in a fresh interpreter.
COLLECTIONS_PROBE = """
import gc
before = sum(generation["collections"] for generation in gc.get_stats())  # the interpreter's own start
from sync_platform.cli import cli  # first, as in the console script
from click.testing import CliRunner
from sync_platform.engine import default_registry
assert CliRunner().invoke(cli, ["sync-batch", "--help"]).exit_code == 0
default_registry().source("stripe")
default_registry().destination("postgres")
print(sum(generation["collections"] for generation in gc.get_stats()) - before, *gc.get_threshold())
"""


def test_the_command_line_loads_its_modules_without_the_collector_scanning_them_over_and_over() -> None:
    """The thresholds are raised before the first import: with the defaults, loading what a sync
    uses set off ~175 collections, each scanning the young objects the imports had just made."""
    probe = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_PROBE], capture_output=True, text=True, check=True
    )
    collections, *thresholds = (int(word) for word in probe.stdout.split())
    assert thresholds == [YOUNG_THRESHOLD, *OLDER_THRESHOLDS]
    assert collections < 20
