"""The HTTP service: ``GET /pipelines`` with 1,000 pipelines, and what ``POST …/sync_batch`` adds to a batch.

The service runs as ``sync-platform serve`` runs it (uvicorn on 127.0.0.1, the default settings)
over a pipeline store on the embedded PostgreSQL (or ``DATABASE_URL``); requests come from an
httpx client on keep-alive connections, with a bearer token, like any API client's.

- ``list``: 1,000 Stripe → PostgreSQL pipelines, each with a backfill checkpoint of five streams
  (as a real backfill leaves it), listed ``--requests`` times. Goal: p99 <= 100 ms.
- ``sync_batch``: one batch of a Stripe (emulator) → PostgreSQL pipeline, full refresh each time so
  every batch does the same work (``--customers`` customers listed and upserted), run alternately
  in-process through ``PipelineRunner`` and over HTTP. The overhead is the median of the paired
  differences (each HTTP batch minus the in-process batch just before it), as a share of the
  in-process median. Goal: <= 5 %.

    .venv/bin/python benchmarks/api.py [--pipelines 1000] [--requests 300] [--batches 15]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from sync_platform.embedded_postgres import DATABASE_URL_ENV, embedded_postgres
from sync_platform.emulator import run_emulator
from sync_platform.engine import Engine
from sync_platform.pipelines import SECRET_KEY_ENV, PipelineCreate, PipelineStore
from sync_platform.pipelines.api_tokens import ApiTokens
from sync_platform.pipelines.runner import PipelineRunner, RunOptions
from sync_platform.service import Services, ServiceServer, bind_socket, create_service_app

STREAMS = ("customer", "invoice", "charge", "product", "price")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def checkpoint(pipeline_index: int) -> dict[str, Any]:
    """A backfill checkpoint shaped like a finished five-stream Stripe backfill's."""
    span = {"gte": "2023-12-03T00:00:00Z", "lt": "2026-12-06T13:19:52Z"}
    streams = {
        name: {"listed": 100 + pipeline_index, "remaining": [], "accounted_range": span} for name in STREAMS
    }
    progress = {
        name: {"status": "completed", "record_count": 100, "state_count": 2, "total_range": span,
               "completed_ranges": [span], "message": None, "failure_kind": None}
        for name in STREAMS
    }  # fmt: skip
    return {
        "source": {"global": {"events_cursor": 1796563192}, "streams": streams},
        "destination": {},
        "sync_run": {
            "run_id": f"run-{pipeline_index}",
            "time_ceiling": "2026-12-06T13:19:46Z",
            "progress": {
                "started_at": "2026-12-06T13:19:46Z", "elapsed_ms": 258, "global_state_count": 1,
                "derived": {"status": "succeeded", "total_record_count": 500, "total_state_count": 10,
                            "records_per_second": 400.0, "states_per_second": 15.0},
                "streams": progress,
            },
        },
    }  # fmt: skip


@contextmanager
def serving(services: Services) -> Iterator[str]:
    server = ServiceServer(create_service_app(services), sock=bind_socket("127.0.0.1", 0))
    with server.in_background("service", 20) as url:
        yield url


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def bench_list(store: PipelineStore, url: str, token: str, pipelines: int, requests: int) -> dict[str, float]:
    template = {
        "source": {"type": "stripe", "stripe": {"api_key": {"env": "STRIPE_API_KEY"}}},
        "destination": {"type": "postgres", "postgres": {"url": {"env": "DEST_URL"}, "schema": "stripe"}},
        "streams": list(STREAMS),
    }
    started = time.perf_counter()
    for index in range(pipelines):
        store.create(PipelineCreate.model_validate({**copy.deepcopy(template), "id": f"bench-{index:04d}"}))
        store.save_checkpoint(f"bench-{index:04d}", checkpoint(index))
    print(f"created {pipelines} pipelines with checkpoints in {time.perf_counter() - started:.1f} s")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        cold = timed(lambda: client.get("/pipelines").raise_for_status())  # every item built afresh
        assert len(client.get("/pipelines").json()["data"]) == pipelines
        for _ in range(10):  # warm up
            client.get("/pipelines")
        times = [timed(lambda: client.get("/pipelines").raise_for_status()) for _ in range(requests)]
        full = [
            timed(lambda: client.get("/pipelines", params={"include_state": True}).raise_for_status())
            for _ in range(max(20, requests // 10))
        ]
        size = len(client.get("/pipelines").content)
    return {
        "cold": cold,
        "p50": statistics.median(times),
        "p99": percentile(times, 0.99),
        "full_p50": statistics.median(full),
        "full_p99": percentile(full, 0.99),
        "bytes": size,
    }


def bench_sync_batch(
    store: PipelineStore, url: str, token: str, emulator: Any, batches: int
) -> dict[str, float]:
    source = {"api_key": {"env": "STRIPE_API_KEY"}, "base_url": emulator.base_url, "rate_limit": 1000}
    document = {
        "id": "batch",
        "source": {"type": "stripe", "stripe": source},
        "destination": {
            "type": "postgres",
            "postgres": {"url": {"env": "DEST_URL"}, "schema": "bench_batch"},
        },
        "streams": ["customer"],
    }
    store.create(PipelineCreate.model_validate(document))
    runner = PipelineRunner(store, Engine(), holder="benchmark (in-process)")
    options = RunOptions(state_limit=None, max_batches=1, reset_state=True)
    params = {"state_limit": 0, "reset_state": True}

    def in_process() -> None:
        for _ in runner.run("batch", None, options):
            pass

    in_process()  # setup + first backfill, off the clock
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        client.post("/pipelines/batch/sync_batch", params=params).raise_for_status()
        local, remote = [], []
        for _ in range(batches):
            local.append(timed(in_process))
            remote.append(
                timed(lambda: client.post("/pipelines/batch/sync_batch", params=params).raise_for_status())
            )
    overhead = statistics.median([http - own for http, own in zip(remote, local, strict=True)])
    return {
        "local_p50": statistics.median(local),
        "local_p99": percentile(local, 0.99),
        "http_p50": statistics.median(remote),
        "http_p99": percentile(remote, 0.99),
        "overhead_ms": overhead,
        "overhead_pct": 100 * overhead / statistics.median(local),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batches", type=int, default=21)
    parser.add_argument("--customers", type=int, default=3000)
    args = parser.parse_args()

    import os

    with ExitStack() as stack:
        database = os.environ.get(DATABASE_URL_ENV) or stack.enter_context(
            embedded_postgres(Path(tempfile.mkdtemp()) / "pg", delete_on_exit=True)
        )
        emulator = stack.enter_context(run_emulator(objects=50, seed=3, counts={"customer": args.customers}))
        environ = {
            SECRET_KEY_ENV: Fernet.generate_key().decode(),
            "STRIPE_API_KEY": emulator.secret_key,
            "DEST_URL": database,
        }
        schema = f"bench_api_{os.getpid()}"
        store = stack.enter_context(
            PipelineStore(database, schema=schema, environ=environ, max_connections=10)
        )
        services = Services(store, Engine())
        token = ApiTokens(store).create("benchmark").secret
        url = stack.enter_context(serving(services))

        listed = bench_list(store, url, token, args.pipelines, args.requests)
        batch = bench_sync_batch(store, url, token, emulator, args.batches)

    print()
    print("| measure | p50 | p99 | goal |")
    print("|---|---|---|---|")
    print(f"| GET /pipelines, {args.pipelines:,} pipelines ({listed['bytes'] / 1e6:.1f} MB) "
          f"| {listed['p50']:.1f} ms | {listed['p99']:.1f} ms | p99 <= 100 ms |")  # fmt: skip
    print(f"| the first GET /pipelines after start (nothing cached yet) | {listed['cold']:.1f} ms | | — |")
    full = f"{listed['full_p50']:.1f} ms | {listed['full_p99']:.1f} ms"
    print(f"| GET /pipelines?include_state=true | {full} | — |")
    print(f"| one batch in-process ({args.customers:,} customers → PostgreSQL) "
          f"| {batch['local_p50']:.0f} ms | {batch['local_p99']:.0f} ms | — |")  # fmt: skip
    print(
        f"| the same batch, POST …/sync_batch | {batch['http_p50']:.0f} ms | {batch['http_p99']:.0f} ms | — |"
    )
    print(
        f"| sync_batch overhead | {batch['overhead_ms']:.1f} ms ({batch['overhead_pct']:.1f} %) | | <= 5 % |"
    )


if __name__ == "__main__":
    main()
