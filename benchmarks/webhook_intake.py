"""Webhook intake: Stripe-signed webhooks posted to the receiver from a separate process on 127.0.0.1.

The receiver runs here exactly as ``sync-platform serve-webhooks`` runs it (uvicorn, the default
``ReceiverSettings``, JSON request logs written to a file), over a pipeline store on the embedded
PostgreSQL (or ``DATABASE_URL``). A load generator in a child process sends pre-signed requests
over keep-alive connections, so signing costs nothing during the measurement. Two phases:

- ``closed``: ``--concurrency`` requests in flight at all times, as fast as the receiver answers
  (its capacity);
- ``open``: requests sent on a fixed schedule at each of ``--rates`` per second, each latency measured from
  its *scheduled* time (so a stalled receiver cannot hide its queueing: no coordinated omission).

Every phase delivers ``--duplicates`` of its events twice (Stripe's redeliveries), then the inbox is
counted: every distinct event must be there exactly once. Goal: >= 1,000 accepted webhooks/s with
p99 <= 50 ms, zero lost or duplicated rows.

    .venv/bin/python benchmarks/webhook_intake.py [--events 20000] [--rates 1000,1500] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

SECRET = "whsec_" + "BenchmarkSigningSecret0123456789"
PIPELINES = ("bench-a", "bench-b", "bench-c")


# --- the load generator (child process) ----------------------------------------------------------


def build_requests(host: str, prefix: str, events: int, duplicates: float) -> list[tuple[bytes, str]]:
    """``(raw HTTP request, event id)`` for ``events`` distinct events plus their redeliveries, shuffled."""
    import stripe

    rng = random.Random(prefix)
    requests: list[tuple[bytes, str]] = []
    now = int(time.time())
    for n in range(events):
        event_id = f"evt_{prefix}_{n:07d}"
        pipeline = PIPELINES[n % len(PIPELINES)]
        body = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "type": "customer.updated",
                "created": now,
                "livemode": False,
                "data": {
                    "object": {"id": f"cus_{n}", "object": "customer", "email": f"c{n}@example.com"},
                    "previous_attributes": {"email": None},
                },
            }
        ).encode()
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET, timestamp=now)
        head = (
            f"POST /webhooks/{pipeline} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Stripe-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        request = (head + body, f"{pipeline}/{event_id}")
        requests.append(request)
        if rng.random() < duplicates:
            requests.append(request)
    rng.shuffle(requests)
    return requests


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _run_load(
    host: str, port: int, requests: list[tuple[bytes, str]], concurrency: int, rate: float | None
) -> dict[str, Any]:
    """Closed loop (``rate`` None): each connection sends its next request as soon as the last one
    is answered. Open loop: request ``i`` is due at ``start + i / rate`` and its latency counts
    from then, including any time it waited for a free connection."""
    latencies: list[float] = [0.0] * len(requests)
    statuses: list[int] = [0] * len(requests)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    pending = iter(range(len(requests)))

    async def closed_worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for index in pending:
            sent = time.perf_counter()
            statuses[index] = await _exchange(reader, writer, requests[index][0])
            latencies[index] = time.perf_counter() - sent

    async def open_worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (item := await queue.get()) is not None:
            index, due = item
            statuses[index] = await _exchange(reader, writer, requests[index][0])
            latencies[index] = time.perf_counter() - due

    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    worker = closed_worker if rate is None else open_worker
    started = time.perf_counter()
    tasks = [asyncio.create_task(worker(reader, writer)) for reader, writer in connections]
    if rate is not None:
        for index in range(len(requests)):
            due = started + index / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((index, due))
        for _ in tasks:
            queue.put_nowait(None)
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    ordered = sorted(latencies)

    def percentile(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    ok = sum(status == 200 for status in statuses)
    return {
        "requests": len(requests),
        "seconds": seconds,
        "ok": ok,
        "statuses": sorted(set(statuses)),
        "ok_per_second": ok / seconds,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": ordered[-1] * 1000,
        "distinct": sorted({key for _, key in requests}),
    }


def client_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - the plain asyncio loop is slower but fine
        pass
    requests = build_requests(args.host, args.prefix, args.events, args.duplicates)
    result = asyncio.run(
        _run_load(args.host, args.port, requests, args.concurrency, None if args.rate <= 0 else args.rate)
    )
    print(json.dumps(result))


# --- the receiver and the bookkeeping (this process) ---------------------------------------------


def _store_with_pipelines(url: str, schema: str, environ: dict[str, str]) -> Any:
    from pydantic import BaseModel, ConfigDict, SecretStr

    from sync_platform.destinations.fixture import NullDestination
    from sync_platform.engine import ConnectorRegistry
    from sync_platform.pipelines import PipelineCreate, PipelineStore
    from sync_platform.protocol import ConnectorSpecification
    from sync_platform.sources.fixture import FixtureSource

    class PushConfig(BaseModel):
        model_config = ConfigDict(extra="forbid")
        webhook_secret: SecretStr

    class PushSource(FixtureSource):
        """Only its config spec matters here: a source that holds a webhook signing secret."""

        def spec(self) -> ConnectorSpecification:
            return ConnectorSpecification(config=PushConfig.model_json_schema())

    registry = ConnectorRegistry(sources={"push": PushSource}, destinations={"null": NullDestination})
    store = PipelineStore(url, schema=schema, registry=registry, environ=environ, max_connections=8)
    for pipeline_id in PIPELINES:
        store.create(
            PipelineCreate.model_validate(
                {
                    "id": pipeline_id,
                    "source": {"type": "push", "push": {"webhook_secret": SECRET}},
                    "destination": {"type": "null"},
                }
            )
        )
    return store


def _inbox_counts(url: str, schema: str, prefix: str) -> tuple[int, int]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            sql.SQL(
                "SELECT count(*), count(DISTINCT (pipeline_id, event_id)) FROM {} WHERE event_id LIKE %s"
            ).format(sql.Identifier(schema, "webhook_inbox")),
            (f"evt_{prefix}_%",),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _phase(
    name: str,
    host: str,
    port: int,
    url: str,
    schema: str,
    *,
    events: int,
    concurrency: int,
    rate: float,
    dup: float,
) -> dict[str, Any]:
    prefix = f"{name}{uuid.uuid4().hex[:6]}"
    command = [
        sys.executable, __file__, "--client", "--host", host, "--port", str(port), "--prefix", prefix,
        "--events", str(events), "--concurrency", str(concurrency), "--rate", str(rate),
        "--duplicates", str(dup),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output)
    rows, distinct_rows = _inbox_counts(url, schema, prefix)
    distinct_sent = len(result.pop("distinct"))
    result.update(
        phase=name,
        concurrency=concurrency,
        rate=rate,
        rows=rows,
        lost=distinct_sent - distinct_rows,
        duplicated_rows=rows - distinct_rows,
        accepted_events=distinct_sent,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=20_000, help="Distinct events in the closed-loop phase."
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rates", default="1000,1500", help="Requests/s of each open-loop phase.")
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=15.0, help="Length of the open-loop phase.")
    parser.add_argument("--duplicates", type=float, default=0.1, help="Share of events delivered twice.")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="x", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    from cryptography.fernet import Fernet

    from sync_platform.embedded_postgres import embedded_postgres
    from sync_platform.pipelines import SECRET_KEY_ENV
    from sync_platform.webhooks import WebhookServer, bind_socket, configure_json_logging, create_app

    workdir = Path(tempfile.mkdtemp(prefix="webhook-intake-"))
    log_file = (workdir / "receiver.log").open("w")
    configure_json_logging(stream=log_file)
    environ = {SECRET_KEY_ENV: Fernet.generate_key().decode()}
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with embedded_postgres(workdir / "pgdata", delete_on_exit=True) as url:
        store = _store_with_pipelines(url, schema, environ)
        sock = bind_socket("127.0.0.1", 0)
        host, port = sock.getsockname()[:2]
        try:
            with WebhookServer(create_app(store), sock=sock).in_background("webhook-receiver", 30):
                _phase(
                    "warmup",
                    host,
                    port,
                    url,
                    schema,
                    events=2000,
                    concurrency=args.concurrency,
                    rate=0,
                    dup=0,
                )
                rows = [
                    _phase(
                        "closed",
                        host,
                        port,
                        url,
                        schema,
                        events=args.events,
                        concurrency=args.concurrency,
                        rate=0,
                        dup=args.duplicates,
                    )
                ]
                for rate in (float(r) for r in args.rates.split(",") if r.strip()):
                    rows.append(
                        _phase(
                            "open", host, port, url, schema,
                            events=int(rate * args.seconds / (1 + args.duplicates)), concurrency=64,
                            rate=rate, dup=args.duplicates,
                        )
                    )  # fmt: skip
        finally:
            store.close()
    print(
        "| phase | load | requests | seconds | 200s/s | p50 ms | p99 ms | max ms | lost | duplicated rows |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in rows:
        load = f"{row['concurrency']} in flight" if row["phase"] == "closed" else f"{row['rate']:,.0f} req/s"
        assert row["statuses"] == [200], f"non-200 answers in phase {row['phase']}: {row['statuses']}"
        print(
            f"| {row['phase']} | {load} | {row['requests']:,} | {row['seconds']:.2f} | "
            f"{row['ok_per_second']:,.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
            f"{row['max_ms']:.1f} | {row['lost']} | {row['duplicated_rows']} |"
        )
    print(f"\nreceiver log: {log_file.name}")


if __name__ == "__main__":
    main()
