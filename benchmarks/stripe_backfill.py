"""Stripe backfill throughput: emulator (100 ms per request) -> Stripe source -> null destination.

The ceiling at a rate limit of R requests/s is R x 100 objects/s (full pages of 100, nothing
else); the goal is >= 80 % of it at R = 25 and R = 100, and never more than R requests in any
one-second window. The emulator runs in its own process with 100 ms of latency per request and
its own rate limiter set to R, so a burst above the limit would show up as 429s; its request log
gives the requests and their spacing. Each rate's sync runs in a fresh subprocess, through the
engine (``sync_batch`` in batches of 1,000 checkpoints, as the Dagster backfill runs it), after
``setup`` has stored the account id and creation time, so its peak RSS is its own.

    .venv/bin/python benchmarks/stripe_backfill.py [--objects 60000] [--rates 25,100]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import subprocess
import sys
import time
import urllib.request
from typing import Any

from pydantic import SecretStr

KEY = "sk_test_" + "backfillbench" * 2
# Objects of ~0.6-1.3 KB with no paginated nested lists, so every request is a list page.
STREAMS = ("customer", "price", "refund")
LATENCY_MS = 100


def _serve(objects: int, streams: tuple[str, ...], ready: Any) -> None:
    from sync_platform.emulator import Emulator, EmulatorConfig, serve

    counts = dict.fromkeys(streams, objects // len(streams))
    emulator = Emulator(EmulatorConfig(objects=0, counts=counts, seed=1, api_keys=(SecretStr(KEY),)))
    # Serialize every object once now, as a long-running emulator would have: the first JSON
    # encoding of a large object costs the emulator more than serving it, and this measures the
    # source, not the emulator's cold start.
    store = emulator.store
    account = store.account(None)
    for name in streams:
        table = store.table(account, name)
        for stored in table.objects.values():
            store.body(account, table, stored)
    serve(emulator, port=0, on_listening=ready.put)


def _admin(base_url: str, path: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base_url}/_emulator/{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def run_child(
    base_url: str, rate: float, streams: tuple[str, ...], max_concurrency: int | None = None
) -> dict[str, float]:
    """One backfill at ``rate`` requests/s; prints nothing, returns the figures."""
    from sync_platform.engine import Engine, blocking
    from sync_platform.protocol import PipelineConfig

    config: dict[str, Any] = {"api_key": KEY, "base_url": base_url, "rate_limit": rate}
    if max_concurrency is not None:
        config["max_concurrency"] = max_concurrency
    pipeline = PipelineConfig.model_validate(
        {
            "source": {"type": "stripe", "stripe": config},
            "destination": {"type": "null"},
            "streams": [{"name": name} for name in streams],
        }
    )
    engine = Engine()

    async def setup() -> dict[str, Any]:
        async for message in engine.setup(pipeline, only="source"):
            if message.type == "control":
                return dict(message.control.source_config)  # type: ignore[union-attr]
        return config

    configured = blocking.run(setup())
    pipeline = pipeline.model_copy(
        update={"source": pipeline.source.model_copy(update={"config": configured})}
    )
    _admin(base_url, "requests", method="DELETE")
    state, batches = None, 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while True:
        eof = blocking.run(engine.sync_batch(pipeline, state=state, run_id=f"bench-{rate}", state_limit=1000))
        batches += 1
        state = eof.ending_state
        if not eof.has_more:
            break
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    assert eof.status.value == "succeeded", eof.error
    return {
        "cpu_share": cpu / seconds,
        "records": eof.run_progress.derived.total_record_count,
        "seconds": seconds,
        "batches": batches,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(
    base_url: str, rate: float, streams: tuple[str, ...], max_concurrency: int | None
) -> dict[str, float]:
    from sync_platform.emulator import max_in_window

    _admin(base_url, "faults", {"latency_ms": LATENCY_MS, "rate_limit_per_second": rate}, method="POST")
    output = subprocess.run(
        [sys.executable, __file__, "--child", base_url, "--rate", str(rate), "--streams", ",".join(streams)]
        + (["--max-concurrency", str(max_concurrency)] if max_concurrency else []),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    row: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    requests = _admin(base_url, "requests")
    arrivals = [entry["at"] for entry in requests]
    row["requests"] = len(requests)
    row["rate_limited"] = sum(1 for entry in requests if entry["status"] == 429)
    row["max_per_second"] = max_in_window(arrivals, 1.0)
    row["requests_per_second"] = len(requests) / row["seconds"]
    row["objects_per_second"] = row["records"] / row["seconds"]
    row["ceiling"] = rate * 100
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=60_000)
    parser.add_argument("--rates", default="25,100")
    parser.add_argument("--streams", default=",".join(STREAMS))
    parser.add_argument("--max-concurrency", type=int, help="the source's max_concurrency (default: its own)")
    parser.add_argument("--child", metavar="BASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    streams = tuple(args.streams.split(","))
    if args.child:
        print(json.dumps(run_child(args.child, args.rate, streams, args.max_concurrency)))
        return
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    server = context.Process(target=_serve, args=(args.objects, streams, ready), daemon=True)
    server.start()
    try:
        base_url = ready.get(timeout=600)
        rows = [
            (float(rate), measure(base_url, float(rate), streams, args.max_concurrency))
            for rate in args.rates.split(",")
        ]
    finally:
        server.terminate()
        server.join(10)
    print(
        f"Stripe backfill, {args.objects:,} objects ({', '.join(streams)}), {LATENCY_MS} ms per request, "
        f"Python {platform.python_version()}\n"
    )
    print(
        "| rate limit (req/s) | objects | seconds | objects/s | % of ceiling | requests/s | "
        "max requests in 1 s | 429s | peak RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate, row in rows:
        print(
            f"| {rate:g} | {row['records']:,.0f} | {row['seconds']:.1f} | {row['objects_per_second']:,.0f} "
            f"| {100 * row['objects_per_second'] / row['ceiling']:.0f} % | {row['requests_per_second']:.1f} "
            f"| {row['max_per_second']:.0f} | {row['rate_limited']:.0f} | {row['peak_rss_mib']:.0f} |"
        )


if __name__ == "__main__":
    main()
