"""The local stack behind ``demo`` and ``dev``: databases, a Stripe, the webhook receiver, Dagster's home.

Everything has an embedded default, so a fresh machine needs nothing installed or configured:

- PostgreSQL: ``DATABASE_URL`` if set, else the embedded server under ``platform_home()``, with
  three databases on it: ``sync_platform`` (pipelines, checkpoints, inbox), ``dagster`` (the
  Dagster instance) and ``warehouse`` (where the demo pipeline writes the Stripe tables);
- Stripe: ``STRIPE_API_KEY`` if set (the real API), else the built-in emulator on 127.0.0.1;
- the webhook receiver on 127.0.0.1 (Stripe's real API cannot reach it, so with a real key the
  demo pipeline polls events instead);
- with ``sheets=True``, the local Google Sheets API on 127.0.0.1 and a service account generated
  for it (its key file is in ``environ`` as ``SYNC_PLATFORM_SHEETS_SERVICE_ACCOUNT``);
- ``DAGSTER_HOME`` under ``platform_home()/dagster``, with the project's ``dagster.yaml`` and its
  storage pointed at the ``dagster`` database.

``environ`` is what every process of the stack needs (the in-process Dagster run, or the
``dagster dev`` subprocess); secrets in it stay in memory and are never printed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync_platform.cli.app_database import local_secret_key
from sync_platform.embedded_postgres import (
    DATABASE_URL_ENV,
    embedded_postgres,
    ensure_database,
    platform_home,
    with_scheme,
)
from sync_platform.pipelines import SECRET_KEY_ENV, Pipeline, PipelineStore, env_secret
from sync_platform.redaction import redact

logger = logging.getLogger(__name__)

APP_DATABASE = "sync_platform"
# Fixed local ports (with a fallback) so pipelines made by `demo` keep working under `dev`.
EMULATOR_PORT = 12111
RECEIVER_PORT = 8787
DAGSTER_DATABASE = "dagster"
WAREHOUSE_DATABASE = "warehouse"
STRIPE_KEY_ENV = "STRIPE_API_KEY"
WAREHOUSE_URL_ENV = "SYNC_PLATFORM_WAREHOUSE_URL"
DAGSTER_DATABASE_URL_ENV = "SYNC_PLATFORM_DAGSTER_DATABASE_URL"
APP_DATABASE_URL_ENV = "SYNC_PLATFORM_DATABASE_URL"
SHEETS_SERVICE_ACCOUNT_ENV = "SYNC_PLATFORM_SHEETS_SERVICE_ACCOUNT"
EMULATOR_KEY_FILE = "stripe_emulator.key"
"""The emulator's Stripe key, 0600 under the platform home: what ``STRIPE_API_KEY_FILE`` names."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]
FALLBACK_DAGSTER_YAML = """\
storage:
  postgres:
    postgres_url:
      env: SYNC_PLATFORM_DAGSTER_DATABASE_URL
concurrency:
  runs:
    tag_concurrency_limits:
      - key: pipeline/id
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
"""


@dataclass
class LocalStack:
    """The running services and the environment that points at them."""

    home: Path
    app_url: str
    dagster_url: str
    warehouse_url: str
    stripe_base_url: str | None
    stripe_key: str
    receiver_url: str
    store: PipelineStore
    emulator: Any = None
    sheets: Any = None  # the local Sheets API (a SheetsEmulator), when started
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def uses_emulator(self) -> bool:
        return self.emulator is not None

    @property
    def sheets_base_url(self) -> str | None:
        return self.sheets.base_url if self.sheets is not None else None

    def webhook_url(self, pipeline_id: str) -> str:
        return f"{self.receiver_url}/webhooks/{pipeline_id}"


def dagster_home(home: Path) -> Path:
    """``home/dagster`` with the project's ``dagster.yaml`` (kept if the user edited the copy)."""
    directory = home / "dagster"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "dagster.yaml"
    if not target.exists():
        template = PROJECT_ROOT / "dagster.yaml"
        if template.exists():
            shutil.copyfile(template, target)
        else:
            target.write_text(FALLBACK_DAGSTER_YAML)
    return directory


def _write_secret_file(path: Path, secret: str) -> None:
    """``secret`` in ``path``, readable by this user only (created 0600, then rewritten in place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    path.chmod(0o600)


def _local_key(seed: int) -> str:
    """The emulator's key: the same for every start with the same seed, so a pipeline created by
    ``demo`` still authenticates when ``dev`` restarts the emulator (it is a local test key)."""
    return "sk_test_local" + hashlib.sha256(f"sync-platform-emulator-{seed}".encode()).hexdigest()[:32]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stable_port(port: int, what: str) -> int:
    """``port`` if free, else any free port (pipelines created before then point at the old one)."""
    if _port_free(port):
        return port
    logger.warning("port %s is busy; the %s listens on another port this time", port, what)
    return 0


@contextmanager
def _emulator(objects: int, seed: int) -> Iterator[Any]:
    from pydantic import SecretStr

    from sync_platform.emulator import run_emulator

    with run_emulator(
        objects=objects, seed=seed, api_keys=(SecretStr(_local_key(seed)),),
        port=_stable_port(EMULATOR_PORT, "Stripe emulator"),
    ) as emulator:  # fmt: skip
        yield emulator


@contextmanager
def _sheets_server() -> Iterator[Any]:
    from sync_platform.sheets_emulator import serve_sheets_emulator

    with serve_sheets_emulator() as sheets:
        yield sheets


@contextmanager
def _receiver(store: PipelineStore) -> Iterator[str]:
    """The webhook receiver on a free 127.0.0.1 port, served from a thread."""
    from sync_platform.webhooks import create_app
    from sync_platform.webhooks.server import WebhookServer, bind_socket

    sock = bind_socket("127.0.0.1", _stable_port(RECEIVER_PORT, "webhook receiver"))
    with WebhookServer(create_app(store), sock=sock).in_background("webhook-receiver") as url:
        yield url


@contextmanager
def local_stack(
    *, objects: int = 3000, seed: int = 7, environ: Mapping[str, str] | None = None, sheets: bool = False
) -> Iterator[LocalStack]:
    """Start the stack; everything stops when the ``with`` block ends (data stays on disk).

    ``sheets`` also starts the local Google Sheets API, whose spreadsheets live in memory only.
    """
    environ = dict(os.environ if environ is None else environ)
    home = platform_home(environ)
    with ExitStack() as stack:
        server_url = stack.enter_context(embedded_postgres(environ=environ))
        app_url = ensure_database(server_url, APP_DATABASE)
        dagster_url = ensure_database(server_url, DAGSTER_DATABASE)
        warehouse_url = ensure_database(server_url, WAREHOUSE_DATABASE)
        secret_key = env_secret(environ, SECRET_KEY_ENV) or (
            local_secret_key(home) if not environ.get(DATABASE_URL_ENV) else None
        )
        if not secret_key:
            raise RuntimeError(
                f"Set {SECRET_KEY_ENV} to the key that encrypts pipeline secrets in {DATABASE_URL_ENV}."
            )
        emulator = None
        stripe_key = env_secret(environ, STRIPE_KEY_ENV) or ""
        stripe_base_url = None
        if not stripe_key:
            emulator = stack.enter_context(_emulator(objects, seed))
            stripe_key, stripe_base_url = emulator.secret_key, emulator.base_url
            _write_secret_file(home / EMULATOR_KEY_FILE, stripe_key)
        stack_environ = {
            APP_DATABASE_URL_ENV: app_url,
            DAGSTER_DATABASE_URL_ENV: with_scheme(dagster_url, "postgresql+psycopg2"),
            WAREHOUSE_URL_ENV: warehouse_url,
            SECRET_KEY_ENV: secret_key,
            STRIPE_KEY_ENV: stripe_key,
            "DAGSTER_HOME": str(dagster_home(home)),
        }
        sheets_server = None
        if sheets:
            sheets_server = stack.enter_context(_sheets_server())
            key_file = sheets_server.new_service_account()  # registered with that server only
            stack_environ[SHEETS_SERVICE_ACCOUNT_ENV] = json.dumps(key_file)
        store = stack.enter_context(PipelineStore(app_url, environ={**environ, **stack_environ}))
        receiver_url = stack.enter_context(_receiver(store))
        yield LocalStack(
            home=home,
            app_url=app_url,
            dagster_url=dagster_url,
            warehouse_url=warehouse_url,
            stripe_base_url=stripe_base_url,
            stripe_key=stripe_key,
            receiver_url=receiver_url,
            store=store,
            emulator=emulator,
            sheets=sheets_server,
            environ=stack_environ,
        )


@contextmanager
def exported(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` in this process's environment for the block (the in-process Dagster run
    resolves its resources from there), then restore what was there before."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def listed_pipelines(stack: LocalStack) -> list[Pipeline]:
    """The stack's pipelines, or none (with one warning line) when the store cannot read them: the
    stack starts anyway, and Dagster reports the store's problem on its own."""
    try:
        return stack.store.list_pipelines()
    except Exception as error:
        logger.warning("could not read the pipelines: %s", _reason(error))
        return []


def reprovision_local_webhooks(stack: LocalStack, pipelines: list[Pipeline] | None = None) -> list[str]:
    """Register again, in a freshly started emulator, the webhook endpoints of pipelines that use it.

    The emulator keeps endpoints in memory, so after a restart (``demo`` then ``dev``) the pipelines
    it serves would receive no webhooks; their source setup creates the endpoint again and the new
    signing secret is stored. ``pipelines`` defaults to ``listed_pipelines(stack)``. Returns the ids
    of the pipelines set up again.

    Whatever state one pipeline is in (a secret this process cannot resolve, such as the service
    account of a ``demo --destination google_sheets`` pipeline; a config that no longer validates; a
    setup that fails), the others are still set up and the stack still starts: each pipeline that
    could not be set up is skipped with one warning line naming it and the reason (never a secret).
    """
    from sync_platform.engine import Engine
    from sync_platform.pipelines.runner import PipelineRunner

    if not stack.uses_emulator:
        return []
    runner = PipelineRunner(stack.store, Engine(), holder="sync-platform dev (setting webhooks up again)")
    done = []
    for pipeline in listed_pipelines(stack) if pipelines is None else pipelines:
        try:
            config = pipeline.source.config
            if pipeline.source.type != "stripe" or config.get("base_url") != stack.stripe_base_url:
                continue
            if not config.get("webhook_url"):
                continue
            runner.provision(pipeline.id, only="source")
        except Exception as error:  # one broken pipeline must not keep the stack from starting
            logger.warning(
                "pipeline %s: its webhooks were not set up again with the emulator: %s",
                pipeline.id,
                _reason(error),
            )
            continue
        done.append(pipeline.id)
    return done


def _reason(error: BaseException) -> str:
    """``error`` as one line of a warning, with anything that looks like a secret masked."""
    text = " ".join(str(error).split()) or type(error).__name__
    return redact(text)
