"""The README's and docs/dagster.md's commands, verbatim, against a running ``sync-platform dev``.

``sync-platform dev`` runs as a subprocess exactly as ``make dev`` runs it (embedded PostgreSQL
under a fresh home, the emulator, the receiver, ``dagster dev``), in a project directory holding
``workspace.yaml``. The commands then run in a second "terminal" with nothing exported: no
``DAGSTER_HOME``, no database URL, no key. Only the ``.env`` block the stack writes lets
``dagster`` and ``sync-platform`` find it, and that block holds no secret in clear.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from sync_platform.cli.dev_env import BEGIN, read_block
from sync_platform.cli.local_stack import exported

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def documented_commands(document: Path, after: str) -> list[list[str]]:
    """The commands of the first ```bash block after the line containing ``after``."""
    text = document.read_text()
    block = text[text.index(after) :].split("```bash\n", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        if line.strip():
            words = shlex.split(line.strip())
            words[0] = str(BIN / words[0].removeprefix(".venv/bin/"))
            commands.append(words)
    return commands


def clean_environment(home: Path) -> dict[str, str]:
    """A shell with nothing of the platform's set (what a new user has)."""
    dropped = ("SYNC_PLATFORM_", "DAGSTER_", "STRIPE_", "DATABASE_URL", "PYTEST_", "COV_")
    environ = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    return {**environ, "SYNC_PLATFORM_HOME": str(home)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n--- dev log ---\n{log.read_text()[-5000:]}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    shutil.copyfile(ROOT / "workspace.yaml", directory / "workspace.yaml")
    (directory / ".env").write_text("MY_OWN_SETTING=kept\n")  # a user's line, which dev must keep
    return directory


@pytest.fixture
def dev_stack(project: Path, tmp_path: Path) -> Iterator[Path]:
    environ = {**clean_environment(tmp_path / "home"), "SYNC_PLATFORM_SENSOR_INTERVAL_SECONDS": "2"}
    log = tmp_path / "dev.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN / "sync-platform"), "dev", "--port", str(free_port()), "--objects", "40"],
            cwd=project, env=environ, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for("the dev stack", lambda: "dev stack is up" in log.read_text(), 120, log)
            yield log
        finally:
            os.killpg(process.pid, signal.SIGTERM)  # what Ctrl-C or a service manager sends
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                raise


@contextmanager
def dagster_instance(project: Path) -> Iterator[dg.DagsterInstance]:
    """The dev stack's Dagster instance, found from its ``.env`` block (as ``dagster`` finds it)."""
    with exported(read_block(project / ".env")), dg.DagsterInstance.get() as instance:
        yield instance


def launched_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Runs of ``stripe_sync_job`` for ``shop`` (``dagster asset materialize`` runs ``__ASSET_JOB``)."""
    return list(
        instance.get_runs(dg.RunsFilter(job_name="stripe_sync_job", tags={"dagster/partition": "shop"}))
    )


def run(command: list[str], cwd: Path, environ: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{shlex.join(command)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def test_readme_and_dagster_docs_commands_run_verbatim_against_make_dev(
    project: Path, tmp_path: Path, dev_stack: Path
) -> None:
    log, home = dev_stack, tmp_path / "home"
    terminal = clean_environment(home)
    terminal.pop("SYNC_PLATFORM_HOME")  # the second terminal sets nothing at all: .env says it
    dotenv = (project / ".env").read_text()
    assert dotenv.startswith("MY_OWN_SETTING=kept\n")
    assert BEGIN in dotenv
    for secret_file in ("secret.key", "stripe_emulator.key"):
        path = home / secret_file
        assert f"={path}" in dotenv
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert path.read_text().strip() not in dotenv  # referenced, never copied
        assert path.read_text().strip() not in log.read_text()

    started = log.read_text()
    assert "SupersessionWarning" not in started  # `dagster dev`'s "use dg dev" notice
    assert "Found a dagster instance configuration" not in started  # the project's dagster.yaml
    for command in documented_commands(ROOT / "README.md", "while `make dev` runs:"):
        output = run(command, project, terminal)
    assert "webhook_inbox_sensor [RUNNING]" in output  # `dagster sensor list`

    get = [str(BIN / "sync-platform"), "--json", "pipelines", "get", "shop"]
    shop = wait_for(
        "shop to be ready", lambda: (out := run(get, project, terminal)) * ('"ready"' in out), 180, log
    )
    assert '"webhook_url": "http://127.0.0.1:' in shop  # a live lane, on the local receiver
    assert "/webhooks/shop" in shop

    with dagster_instance(project) as instance:
        before = {r.run_id for r in launched_runs(instance)}
        outputs = [
            run(command, project, terminal)
            for command in documented_commands(ROOT / "docs/dagster.md", "In a second terminal")
        ]
        assert "RUN_SUCCESS" in outputs[1]  # asset materialize: in this process, now
        listed = run([str(BIN / "dagster"), "sensor", "list"], project, terminal)
        assert "webhook_inbox_sensor [RUNNING]" in listed  # stopped, then started again
        (launched,) = wait_for(
            "the run `dagster job launch` queued to finish",
            lambda: [r for r in launched_runs(instance) if r.run_id not in before and r.is_finished],
            180,
            log,
        )
        assert launched.status is dg.DagsterRunStatus.SUCCESS

    os.kill(int(read_block(project / ".env")["SYNC_PLATFORM_DEV_PID"]), signal.SIGTERM)
    wait_for("dev to remove its .env block", lambda: BEGIN not in (project / ".env").read_text(), 90, log)
    assert (project / ".env").read_text() == "MY_OWN_SETTING=kept\n"
