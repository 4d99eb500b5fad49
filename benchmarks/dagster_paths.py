"""Benchmark: the three Dagster paths that decide how the platform feels.

(a) webhook-to-row latency through receiver -> inbox sensor -> run, with a real ``dagster dev``
    daemon and the sensor interval at 5 s: p50 and p95 over 50 events (goal p95 <= 15 s);
(b) one inbox-sensor tick with 1,000 pipelines and 100,000 pending inbox rows (goal <= 5 s), and
    the lifecycle-sensor tick over the same 1,000 pipelines;
(c) a full backfill materialized through Dagster against the same backfill through the bare engine,
    in the same process and on the same data (goal: overhead <= 10%).

Everything runs on the local stack (embedded PostgreSQL under a temporary SYNC_PLATFORM_HOME, the
Stripe emulator, the webhook receiver); nothing leaves 127.0.0.1.

    .venv/bin/python benchmarks/dagster_paths.py [a] [b] [c] [--events 50] [--objects 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# --- (a) webhook -> row latency with a real daemon --------------------------------------------------


def latency(events: int, interval: int) -> dict[str, Any]:
    import subprocess

    import psycopg
    from psycopg import sql

    from sync_platform.cli.demo_flow import demo_pipeline
    from sync_platform.cli.dev_command import dagster_command, stop
    from sync_platform.cli.local_stack import local_stack
    from sync_platform.pipelines import PipelineStatus

    with local_stack(objects=600, environ={**os.environ, "SYNC_PLATFORM_HOME": tempfile.mkdtemp()}) as stack:
        environ = {**os.environ, **stack.environ, "SYNC_PLATFORM_SENSOR_INTERVAL_SECONDS": str(interval)}
        log = open(Path(stack.home) / "dagster_dev.log", "w")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            dagster_command("127.0.0.1", 3999), env=environ, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            pipeline_id = "bench_latency"
            request = demo_pipeline(stack, pipeline_id).model_copy(update={"streams": None})
            stack.store.create(
                request.model_validate({**request.model_dump(mode="json"), "streams": ["customer"]})
            )
            deadline = time.monotonic() + 300
            while stack.store.get(pipeline_id).status is not PipelineStatus.READY:
                if time.monotonic() > deadline:
                    raise RuntimeError("the pipeline did not become ready; see dagster_dev.log")
                time.sleep(0.5)
            schema = f"stripe_{pipeline_id}"
            customers = [c["id"] for c in stack.emulator.objects("customer")[:events]]
            sent: dict[str, float] = {}
            landed: dict[str, float] = {}

            def poll() -> None:
                query = sql.SQL(
                    "SELECT id FROM {}.customer WHERE _raw_data->>'name' = 'bench ' || id"
                ).format(sql.Identifier(schema))
                with psycopg.connect(stack.warehouse_url, autocommit=True) as connection:
                    while len(landed) < len(customers):
                        now = time.monotonic()
                        for (object_id,) in connection.execute(query).fetchall():
                            landed.setdefault(object_id, now)
                        time.sleep(0.1)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            for object_id in customers:
                sent[object_id] = time.monotonic()
                stack.emulator.update("customer", object_id, {"name": f"bench {object_id}"})
                time.sleep(1.0)
            poller.join(180)
            latencies = [landed[i] - sent[i] for i in customers if i in landed]
            failed = [d for d in stack.emulator.deliveries if not d.succeeded]
            if len(latencies) < len(customers):
                missing = [i for i in customers if i not in landed]
                pending = stack.store.count_pending_inbox(pipeline_id)
                print(
                    f"not applied: {missing}; failed deliveries: {failed[:5]}; pending inbox rows: {pending}"
                )
            return {
                "events": len(customers),
                "applied": len(latencies),
                "p50": statistics.median(latencies),
                "p95": percentile(latencies, 0.95),
                "max": max(latencies),
                "interval": interval,
            }
        finally:
            stop(process)
            log.close()


# --- (b) sensor ticks at scale ----------------------------------------------------------------------


def ticks(pipelines: int, rows: int) -> dict[str, Any]:
    import dagster as dg
    import psycopg
    from psycopg.types.json import Jsonb

    from sync_platform.cli.local_stack import local_stack
    from sync_platform.defs.definitions import build_definitions
    from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
    from sync_platform.defs.sensors.inbox import INBOX_SENSOR
    from sync_platform.defs.sensors.lifecycle import LIFECYCLE_SENSOR
    from sync_platform.pipelines import PipelineCreate, PipelineStatus

    with local_stack(objects=10, environ={**os.environ, "SYNC_PLATFORM_HOME": tempfile.mkdtemp()}) as stack:
        store = stack.store
        started = time.monotonic()
        ids = [f"bench_{n:04d}" for n in range(pipelines)]
        for pipeline_id in ids:
            store.create(
                PipelineCreate.model_validate(
                    {
                        "id": pipeline_id,
                        "source": {"type": "stripe", "stripe": {
                            "api_key": {"env": "STRIPE_API_KEY"}, "webhook_secret": {"env": "STRIPE_API_KEY"},
                        }},
                        "destination": {"type": "postgres", "postgres": {
                            "url": {"env": "SYNC_PLATFORM_WAREHOUSE_URL"},
                        }},
                    }
                )
            )  # fmt: skip
            store.set_status(pipeline_id, PipelineStatus.BACKFILL)
            store.set_status(pipeline_id, PipelineStatus.READY)
        setup_seconds = time.monotonic() - started
        copy_sql = "COPY sync_platform.webhook_inbox (pipeline_id, event_id, event_type, payload) FROM STDIN"
        with (
            psycopg.connect(stack.app_url, autocommit=True) as connection,
            connection.cursor() as cursor,
            cursor.copy(copy_sql) as copy,
        ):
            for n in range(rows):
                copy.write_row(
                    (ids[n % pipelines], f"evt_{n}", "customer.updated", Jsonb({"id": f"evt_{n}"}))
                )
        resources = {
            "pipelines": PipelineResource(app_db=AppDatabaseResource(url=stack.app_url)),
            "sync_engine": SyncEngineResource(),
        }
        definitions = build_definitions(resources=resources)
        results: dict[str, Any] = {
            "pipelines": pipelines,
            "pending_rows": rows,
            "setup_seconds": setup_seconds,
        }
        with dg.instance_for_test() as instance:
            for name, label in ((LIFECYCLE_SENSOR, "lifecycle"), (INBOX_SENSOR, "inbox")):
                durations = []
                for _ in range(3):
                    with dg.build_sensor_context(
                        instance=instance, instance_ref=instance.get_ref(), resources=resources,
                        definitions=definitions,
                    ) as context:  # fmt: skip
                        tick_started = time.monotonic()
                        data = definitions.resolve_sensor_def(name).evaluate_tick(context)
                        durations.append(time.monotonic() - tick_started)
                    if (
                        name == LIFECYCLE_SENSOR
                    ):  # the first tick adds partitions; later ones are steady state
                        for request in data.dynamic_partitions_requests or []:
                            instance.add_dynamic_partitions(
                                request.partitions_def_name, list(request.partition_keys)
                            )
                results[f"{label}_tick_seconds"] = durations
                results[f"{label}_run_requests"] = len(data.run_requests or [])
        return results


# --- (c) Dagster overhead over the bare engine -------------------------------------------------------


def overhead(objects: int, repeats: int) -> dict[str, Any]:
    from sync_platform.cli.local_stack import local_stack
    from sync_platform.emulator import run_emulator

    streams = ["customer", "invoice", "charge", "product"]
    counts = dict.fromkeys(streams, objects // len(streams))
    with run_emulator(objects=0, counts=counts, seed=3) as emulator:
        os.environ["BENCH_STRIPE_KEY"] = emulator.secret_key
        home = tempfile.mkdtemp()
        with local_stack(objects=10, environ={**os.environ, "SYNC_PLATFORM_HOME": home}) as stack:
            os.environ.update(stack.environ)
            return _overhead(stack, emulator, streams, repeats)


def _overhead(stack: Any, emulator: Any, streams: list[str], repeats: int) -> dict[str, Any]:
    import dagster as dg

    from sync_platform.defs.definitions import build_definitions
    from sync_platform.defs.resources import AppDatabaseResource, PipelineResource, SyncEngineResource
    from sync_platform.engine import Engine, blocking
    from sync_platform.pipelines import CheckpointLane, PipelineCreate

    resources = {
        "pipelines": PipelineResource(app_db=AppDatabaseResource(url=stack.app_url)),
        "sync_engine": SyncEngineResource(),
    }
    definitions = build_definitions(resources=resources)
    job = definitions.resolve_job_def("stripe_sync_job")

    def create(schema: str) -> str:
        pipeline_id = f"bench_{uuid.uuid4().hex[:8]}"
        stack.store.create(
            PipelineCreate.model_validate(
                {
                    "id": pipeline_id,
                    "source": {"type": "stripe", "stripe": {
                        "api_key": {"env": "BENCH_STRIPE_KEY"},
                        "base_url": emulator.base_url,
                        "rate_limit": 1000,
                    }},
                    "destination": {"type": "postgres", "postgres": {
                        "url": {"env": "SYNC_PLATFORM_WAREHOUSE_URL"}, "schema": schema,
                    }},
                    "streams": streams,
                }
            )
        )  # fmt: skip
        return pipeline_id

    instance = dg.DagsterInstance.get()  # the stack's DAGSTER_HOME: PostgreSQL run and event storage
    selection = [dg.AssetKey(["stripe", stream]) for stream in streams]

    def through_dagster() -> float:
        pipeline_id = create(f"dg_{uuid.uuid4().hex[:6]}")
        instance.add_dynamic_partitions("stripe_pipelines", [pipeline_id])
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance, partition_key=pipeline_id, asset_selection=selection,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
        )  # fmt: skip
        elapsed = time.monotonic() - started
        assert result.success
        return elapsed

    def bare_engine() -> float:
        pipeline_id = create(f"bare_{uuid.uuid4().hex[:6]}")
        config = stack.store.resolve_secrets(stack.store.get(pipeline_id))
        engine = Engine()
        started = time.monotonic()
        for _ in blocking.iterate(lambda: engine.setup(config)):
            pass
        state: Any = None
        while True:  # as `sync-platform sync-batch` does: each batch's checkpoint is committed
            eof = blocking.run(engine.sync_batch(config, state=state, run_id="bench", state_limit=100))
            state = eof.ending_state
            stack.store.save_checkpoint(pipeline_id, state, lane=CheckpointLane.BACKFILL)
            if not eof.has_more:
                break
        return time.monotonic() - started

    timings: dict[str, list[float]] = {"dagster": [], "engine": []}
    requests: dict[str, list[int]] = {"dagster": [], "engine": []}

    def counted(name: str, run: Callable[[], float]) -> None:
        emulator.requests.clear()
        timings[name].append(run())
        requests[name].append(len(emulator.requests.entries()))

    through_dagster()  # warm up: imports, the first Dagster run's storage setup
    for _ in range(repeats):
        counted("engine", bare_engine)
        counted("dagster", through_dagster)
    best = {name: min(values) for name, values in timings.items()}
    return {
        "objects": sum(len(emulator.objects(s)) for s in streams),
        "engine_seconds": best["engine"],
        "dagster_seconds": best["dagster"],
        "overhead": best["dagster"] / best["engine"] - 1,
        "all": timings,
        "requests": requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["a", "b", "c"], choices=["a", "b", "c"])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, Callable[[], dict[str, Any]]] = {
        "a": lambda: latency(args.events, args.interval),
        "b": lambda: ticks(args.pipelines, args.rows),
        "c": lambda: overhead(args.objects, args.repeats),
    }
    for part in args.parts:
        result = report[part]()
        print(
            f"\n({part})",
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()},
            flush=True,
        )
        print_table(part, result)


def print_table(part: str, r: dict[str, Any]) -> None:
    """The markdown rows recorded in docs/benchmarks.md."""
    if part == "a":
        header = ["events", "applied", "sensor interval", "p50 (s)", "p95 (s)", "max (s)"]
        row = [
            r["events"],
            r["applied"],
            f"{r['interval']} s",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['max']:.1f}",
        ]
    elif part == "b":
        header = [
            "pipelines",
            "pending inbox rows",
            "inbox tick (s)",
            "lifecycle tick (s)",
            "inbox run requests",
        ]
        inbox, lifecycle = max(r["inbox_tick_seconds"]), max(r["lifecycle_tick_seconds"])
        row = [
            f"{r['pipelines']:,}",
            f"{r['pending_rows']:,}",
            f"{inbox:.2f}",
            f"{lifecycle:.2f}",
            r["inbox_run_requests"],
        ]
    else:
        header = ["objects", "bare engine (s)", "through Dagster (s)", "overhead"]
        row = [
            f"{r['objects']:,}",
            f"{r['engine_seconds']:.2f}",
            f"{r['dagster_seconds']:.2f}",
            f"{r['overhead']:+.1%}",
        ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))
    print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()
