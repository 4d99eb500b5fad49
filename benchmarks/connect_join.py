"""A new Connect account's first event to its rows in PostgreSQL, with ``sync-platform dev`` running.

The issue's goal is "a new account's first event to its rows in PostgreSQL <= 60 s with the dev
stack running", so this measures it the way a user gets there, and nothing in between is called
in-process:

1. The Stripe emulator runs in its own process with N connected accounts of small data (built when
   first touched), 50 ms of latency per request and a rate limit of R requests/s.
2. ``sync-platform dev`` runs as a user starts it (a fresh ``SYNC_PLATFORM_HOME``, a project
   directory holding ``workspace.yaml``), with ``STRIPE_API_KEY`` set to the emulator's key, the
   way a platform points ``dev`` at its own Stripe: embedded PostgreSQL, the webhook receiver, the
   HTTP service and ``dagster dev`` (webserver + daemon, so sensors run at their shipped intervals
   unless ``--sensor-interval`` says otherwise).
3. In a second "terminal" (nothing exported but the key; the ``.env`` block finds the stack):
   ``sync-platform pipelines create`` of a Connect pipeline, ``connected_accounts: "all"`` over the
   default connected stream set into the stack's warehouse, whose ``webhook_url`` is the stack's
   receiver, so setup registers the account and the Connect endpoints with the emulator. The
   lifecycle sensor sets it up and backfills it; the benchmark waits for ``ready``.
4. Per join: ``POST /_emulator/connect/authorize`` connects a new account (with its own history)
   and sends ``account.application.authorized`` to the Connect endpoint. The benchmark polls the
   warehouse until the account's rows (``_account_id``) are there and their ids equal what the
   emulator's API lists for that account, stream by stream; the time from the event to the first
   row and to all rows is the figure. The stages are read back afterwards from where each is
   recorded: the inbox row's ``received_at`` (webhook delivered), the Dagster run's creation (the
   inbox sensor's tick), its ``RUN_START`` (queue + launch) and its end.

Between joins the benchmark waits for the pipeline to have no run in flight, so each join starts
from an idle stack (a join arriving during a run waits for that run: one run per pipeline).

    .venv/bin/python benchmarks/connect_join.py [--accounts 100] [--joins 3] [--rate 100]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import CLI, _admin

KEY = "sk_test_" + "connectjoinbench" * 2
LATENCY_MS = 50
PIPELINE = "connect"
ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 60.0


def _serve(accounts: int, objects: int, ready: Any) -> None:
    """The emulator in its own process (as ``sync-platform emulator serve`` would run), so its
    request handling and webhook deliveries never share a GIL with the benchmark's polling."""
    from sync_platform.emulator import Emulator, EmulatorConfig, serve

    config = EmulatorConfig(
        objects=objects,
        connected_accounts=accounts,
        connected_objects=objects,
        seed=1,
        api_keys=(SecretStr(KEY),),
    )
    serve(Emulator(config), port=0, on_listening=ready.put)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_environment(home: Path) -> dict[str, str]:
    """A shell with nothing of the platform's set but its home and the Stripe key (what a user who
    points ``dev`` at their own Stripe has exported)."""
    dropped = ("SYNC_PLATFORM_", "DAGSTER_", "STRIPE_", "DATABASE_URL", "PYTEST_", "COV_")
    environ = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    return {**environ, "SYNC_PLATFORM_HOME": str(home), "STRIPE_API_KEY": KEY}


def _wait_for(what: str, check: Any, timeout: float, log: Path, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}\n--- dev log ---\n{log.read_text()[-5000:]}")


@contextmanager
def dev_stack(project: Path, home: Path, sensor_interval: int | None) -> Iterator[tuple[Path, str]]:
    """``sync-platform dev`` in ``project``; yields its log and the receiver's URL, then stops it
    with SIGTERM (what a service manager or Ctrl-C sends), as the dev-stack tests do."""
    environ = _clean_environment(home)
    if sensor_interval is not None:
        environ["SYNC_PLATFORM_SENSOR_INTERVAL_SECONDS"] = str(sensor_interval)
    log = project / "dev.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [CLI, "dev", "--port", str(_free_port())],
            cwd=project, env=environ, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for("the dev stack", lambda: "dev stack is up" in log.read_text(), 180, log)
            found = re.search(r"webhook receiver\s+(\S+)/webhooks/<pipeline_id>", log.read_text())
            if found is None:
                raise SystemExit(f"no receiver URL in the dev banner:\n{log.read_text()[-3000:]}")
            yield log, found.group(1)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _cli(args: list[str], project: Path, environ: dict[str, str]) -> str:
    done = subprocess.run([CLI, *args], cwd=project, env=environ, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sync-platform {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout


def _status(project: Path, environ: dict[str, str]) -> dict[str, Any]:
    return json.loads(_cli(["--json", "pipelines", "get", PIPELINE], project, environ))


def _ready(project: Path, environ: dict[str, str]) -> bool:
    """Whether the pipeline's backfill is done; a pipeline in error ends the benchmark."""
    status = _status(project, environ)
    if status["display_status"] == "error":
        raise SystemExit(f"the pipeline failed: {json.dumps(status.get('error'))}")
    return bool(status["display_status"] == "ready")


def expected_ids(base_url: str, account: str, streams: list[str]) -> dict[str, set[str]]:
    """Every object id of ``account`` per stream, listed through the emulator's API (under its
    rate limit, ~one request per stream: small next to the rate)."""
    from sync_platform.sources.stripe.catalog import stream_by_name

    headers = {"Authorization": f"Bearer {KEY}", "Stripe-Account": account}
    found: dict[str, set[str]] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for stream in streams:
            params: dict[str, str] = {
                "limit": "100",
                **({"status": "all"} if stream == "subscription" else {}),
            }
            ids: list[str] = []
            while True:
                response = client.get(stream_by_name(stream).list_path, params=params)
                if response.status_code == 429:
                    time.sleep(0.2)
                    continue
                page = response.json()
                ids += [obj["id"] for obj in page["data"]]
                if not page.get("has_more"):
                    break
                params["starting_after"] = ids[-1]
            found[stream] = set(ids)
    return found


def warehouse_ids(
    connection: psycopg.Connection[Any], account: str, streams: list[str]
) -> dict[str, set[str]]:
    """The account's row ids per stream, in one statement (a poll must cost the server little)."""
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name}, id::text FROM stripe.{table} WHERE _account_id = %(account)s").format(
            name=sql.Literal(stream), table=sql.Identifier(stream)
        )
        for stream in streams
    )
    found: dict[str, set[str]] = {stream: set() for stream in streams}
    for stream, object_id in connection.execute(query, {"account": account}).fetchall():
        found[stream].add(object_id)
    return found


def _in_flight(instance: Any) -> list[Any]:
    import dagster as dg

    status = dg.DagsterRunStatus
    in_flight = (status.QUEUED, status.NOT_STARTED, status.STARTING, status.STARTED, status.CANCELING)
    from sync_platform.defs.tags import PIPELINE_TAG

    return list(instance.get_runs(dg.RunsFilter(tags={PIPELINE_TAG: PIPELINE}, statuses=list(in_flight))))


MARKS = {
    "PIPELINE_ENQUEUED": "enqueued",
    "PIPELINE_DEQUEUED": "dequeued",
    "PIPELINE_STARTING": "starting",
    "PIPELINE_START": "started",
    "STEP_START": "step_start",
}
"""Dagster run events whose first timestamp splits a run's latency (``event_type_value`` names)."""


def run_stages(instance: Any, after: float) -> list[dict[str, Any]]:
    """The pipeline's runs created after ``after``: lane, trigger, and when each was created (the
    sensor's tick), left the run queue (``RUN_STARTING``), started (a run worker is up) and when its step
    started and it ended. Read from the run's event log, which a live run keeps short."""
    import dagster as dg

    from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG, TRIGGER_TAG

    records = instance.get_run_records(
        dg.RunsFilter(tags={PIPELINE_TAG: PIPELINE}, created_after=datetime.fromtimestamp(after, UTC))
    )
    stages = []
    for record in sorted(records, key=lambda r: r.create_timestamp):
        run = record.dagster_run
        marks: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id):
            kind = entry.dagster_event.event_type_value if entry.dagster_event else None
            if kind in MARKS:
                marks.setdefault(MARKS[kind], entry.timestamp)
        stages.append(
            {
                "run_id": run.run_id,
                "lane": run.tags.get(LANE_TAG),
                "trigger": run.tags.get(TRIGGER_TAG),
                "status": run.status.value,
                "created": record.create_timestamp.timestamp(),
                **marks,
                "ended": record.end_time,
            }
        )
    return stages


def sensor_tick(instance: Any, run_id: str, after: float) -> dict[str, float]:
    """When the inbox sensor's tick that requested ``run_id`` started and ended, and when the tick
    before it started: what the wait for a tick and a tick's own evaluation cost."""
    from dagster._core.definitions.run_request import InstigatorType  # no public export

    from sync_platform.defs.sensors.inbox import INBOX_SENSOR

    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name != INBOX_SENSOR:
            continue
        ticks = sorted(
            instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after),
            key=lambda tick: tick.timestamp,
        )
        for previous, tick in zip([None, *ticks], ticks, strict=False):
            if run_id in tick.run_ids:
                found = {"tick_start": tick.timestamp, "tick_end": tick.end_timestamp}
                if previous is not None:
                    found["previous_tick_start"] = previous.timestamp
                return {name: value for name, value in found.items() if value is not None}
    return {}


def inbox_received(app_url: str, event_id: str) -> tuple[float | None, float | None]:
    """When the receiver stored the event, and when a run marked it applied."""
    with psycopg.connect(app_url) as connection:
        row = connection.execute(
            "SELECT extract(epoch FROM received_at)::float8, extract(epoch FROM processed_at)::float8 "
            "FROM sync_platform.webhook_inbox WHERE event_id = %s ORDER BY id LIMIT 1",
            (event_id,),
        ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def join_once(
    base_url: str, warehouse: str, app_url: str, instance: Any, streams: list[str], timeout: float, log: Path
) -> dict[str, Any]:
    """Connect one account and time its rows into the warehouse."""
    _wait_for("the pipeline's runs to finish", lambda: not _in_flight(instance), 600, log)
    time.sleep(1.05 - time.time() % 1)  # the event in a fresh second, after any run's ceiling
    posted = time.time()
    joined = _admin(base_url, "connect/authorize", {}, method="POST")
    account, event = joined["object"]["id"], joined["event"]
    want = expected_ids(base_url, account, streams)
    first_row = done = None
    with psycopg.connect(warehouse, autocommit=True) as connection:
        deadline = posted + timeout
        while time.time() < deadline:
            held = warehouse_ids(connection, account, streams)
            now = time.time()
            if first_row is None and any(held.values()):
                first_row = now
            if held == want:
                done = now
                break
            time.sleep(0.2)
    if done is None:
        missing = {s: len(want[s] - held[s]) for s in streams if want[s] - held[s]}
        extra = {s: len(held[s] - want[s]) for s in streams if held[s] - want[s]}
        raise SystemExit(
            f"account {account}: rows incomplete after {timeout:.0f} s (missing {missing}, extra {extra})\n"
            f"--- dev log ---\n{log.read_text()[-5000:]}"
        )
    _wait_for("the join's run to finish", lambda: not _in_flight(instance), 600, log)
    received, processed = inbox_received(app_url, event["id"])
    runs = run_stages(instance, posted - 1)
    attempts = [a for a in _admin(base_url, "deliveries") if a["event_id"] == event["id"]]
    live = next((r for r in runs if r["lane"] == "live"), runs[0] if runs else None)
    if live is not None:
        live.update(sensor_tick(instance, live["run_id"], posted - 30))
    return {
        "account": account,
        "objects": sum(len(ids) for ids in want.values()),
        "posted": posted,
        "received": received,
        "processed": processed,
        "first_row": first_row,
        "done": done,
        "run": live,
        "runs": runs,
        "deliveries": [(a["url"], a["attempt"], a["status"]) for a in attempts],
    }


def _split(join: dict[str, Any]) -> dict[str, float | None]:
    """Seconds per stage: the webhook's delivery into the inbox, the wait for the inbox sensor's
    next tick (its minimum interval is 5 s), the tick's evaluation up to the run's creation, the
    run queue (until ``RUN_STARTING``; the queue is polled every second), the run worker's
    start-up (to ``RUN_START``), the step's start-up, the step to the first row (claiming the
    event, the account lookup, its pages, the commit), the rest of the account's rows; and the
    totals from the event."""
    posted, run = join["posted"], join["run"] or {}

    def since(mark: float | None, base: float | None) -> float | None:
        return None if mark is None or base is None else mark - base

    return {
        "delivered": since(join["received"], posted),
        "tick_wait": since(run.get("tick_start"), join["received"]),
        "tick": since(run.get("created"), run.get("tick_start")),
        "queued": since(run.get("starting"), run.get("created")),
        "launch": since(run.get("started"), run.get("starting")),
        "step": since(run.get("step_start"), run.get("started")),
        "first_row": since(join["first_row"], run.get("step_start") or run.get("started")),
        "rows": since(join["done"], join["first_row"]),
        "first_row_total": join["first_row"] - posted,
        "total": join["done"] - posted,
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


COLUMNS = {
    "delivered": "event → inbox",
    "tick_wait": "inbox → sensor tick",
    "tick": "tick → run created",
    "queued": "run queue",
    "launch": "run worker start-up",
    "step": "run start → step start",
    "first_row": "step start → first row",
    "rows": "first → last row",
    "first_row_total": "event → first row",
    "total": "event → all rows",
}


def table(joins: list[dict[str, Any]]) -> str:
    """One row per join, seconds per stage; then min/median/max of the totals against the goal."""
    lines = [
        "| join | objects | " + " | ".join(f"{title} s" for title in COLUMNS.values()) + " | run |",
        "|---:|---:|" + "---:|" * len(COLUMNS) + "---|",
    ]
    for n, join in enumerate(joins, 1):
        split, run = _split(join), join["run"] or {}
        cells = [f"**{_fmt(split[key])}**" if key == "total" else _fmt(split[key]) for key in COLUMNS]
        lines.append(
            f"| {n} | {join['objects']} | "
            + " | ".join(cells)
            + f" | {run.get('lane')} ({run.get('trigger')}) |"
        )
    totals = [_split(j)["total"] or 0.0 for j in joins]
    firsts = [_split(j)["first_row_total"] or 0.0 for j in joins]
    met = "met" if max(totals) <= GOAL_S else "NOT met"
    lines.append("")
    lines.append(
        f"event → all rows: min {min(totals):.1f} s, median {statistics.median(totals):.1f} s, "
        f"max {max(totals):.1f} s (goal ≤ {GOAL_S:.0f} s: {met}); event → first row: "
        f"min {min(firsts):.1f}, median {statistics.median(firsts):.1f}, max {max(firsts):.1f} s"
    )
    return "\n".join(lines)


def main() -> None:
    from sync_platform.cli.dev_env import read_block
    from sync_platform.cli.local_stack import exported
    from sync_platform.sources.stripe.config import DEFAULT_CONNECTED_STREAMS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=100, help="Connected accounts at the start.")
    parser.add_argument("--objects", type=int, default=50, help="Objects per account (mean).")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="Requests per second (emulator and client)."
    )
    parser.add_argument("--joins", type=int, default=3, help="New accounts connected, one after another.")
    parser.add_argument("--timeout", type=float, default=300.0, help="Seconds to wait for one join's rows.")
    parser.add_argument(
        "--sensor-interval", type=int, default=None,
        help="SYNC_PLATFORM_SENSOR_INTERVAL_SECONDS for dev (default: unset, the shipped intervals).",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="Print the raw results as JSON too.")
    args = parser.parse_args()
    streams = list(DEFAULT_CONNECTED_STREAMS)

    ready: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.accounts, args.objects, ready), daemon=True)
    server.start()
    with tempfile.TemporaryDirectory(prefix="connect_join_") as tmp:
        project, home = Path(tmp) / "project", Path(tmp) / "home"
        project.mkdir()
        shutil.copyfile(ROOT / "workspace.yaml", project / "workspace.yaml")
        try:
            base_url = ready.get(timeout=300)
            faults = {"latency_ms": LATENCY_MS, "rate_limit_per_second": args.rate}
            _admin(base_url, "faults", faults, method="POST")
            started = time.monotonic()
            with dev_stack(project, home, args.sensor_interval) as (log, receiver):
                stack_up = time.monotonic() - started
                block = read_block(project / ".env")
                terminal = _clean_environment(home)
                terminal.pop("SYNC_PLATFORM_HOME")  # the second terminal finds the stack by .env
                create = [
                    "pipelines", "create", "--id", PIPELINE,
                    "--source", "stripe", "--source.api-key-env", "STRIPE_API_KEY",
                    "--source.base-url", base_url, "--source.rate-limit", f"{args.rate:g}",
                    "--source.connected-accounts", "all",
                    "--source.webhook-url", f"{receiver}/webhooks/{PIPELINE}",
                    "--destination", "postgres", "--destination.url-env", "SYNC_PLATFORM_WAREHOUSE_URL",
                    "--streams", ",".join(streams),
                ]  # fmt: skip
                created = time.monotonic()
                _cli(create, project, terminal)
                _wait_for("the pipeline to be ready", lambda: _ready(project, terminal), 900, log, every=2.0)
                backfill_s = time.monotonic() - created
                import dagster as dg

                with exported(block), dg.DagsterInstance.get() as instance:
                    joins = []
                    for n in range(args.joins):
                        joins.append(
                            join_once(
                                base_url, block["SYNC_PLATFORM_WAREHOUSE_URL"],
                                block["SYNC_PLATFORM_DATABASE_URL"], instance, streams, args.timeout, log,
                            )
                        )  # fmt: skip
                        print(table(joins[-1:]).splitlines()[-3], f"(join {n + 1})", flush=True)
                status = _status(project, terminal)
        finally:
            server.terminate()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    intervals = (
        f"sensor interval {args.sensor_interval} s" if args.sensor_interval else "shipped sensor intervals"
    )
    print(
        f"# connect_join: {args.accounts} connected accounts, {args.objects} objects each (mean), "
        f"{LATENCY_MS} ms latency, {args.rate:g} req/s, {len(streams)} streams, {intervals}, {python}, "
        f"{os.cpu_count()} CPUs; dev stack up in {stack_up:.1f} s, pipeline created → ready in "
        f"{backfill_s:.1f} s; accounts after the joins: "
        f"{(status.get('account_status') or {}).get('counts')}"
    )
    print(table(joins))
    if args.json:
        print(
            json.dumps(
                {"joins": joins, "account_status": status.get("account_status")}, indent=2, default=str
            )
        )


if __name__ == "__main__":
    main()
