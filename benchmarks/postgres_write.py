"""Benchmark: the PostgreSQL destination's write path against a plain COPY of the same rows.

For each record count (100,000 and ``--records``, default 1,000,000) three measurements run, each in
its own process so its peak RSS is its own:

- ``copy``: the baseline. The same records, encoded the same way, COPYed into a table of the same
  shape as the destination's (same columns, no primary key, no index). Typed columns stay NULL:
  the baseline does the least work that still moves every byte.
- ``insert``: ``PostgresDestination.write()`` into an empty table (a stream state every
  ``--state-every`` records, as a source's checkpoints would come).
- ``update``: the same ids again, each a newer version, into the now full table.

Rates exclude the time spent generating records (measured around the generator and subtracted),
so they compare the write paths only. Goals: insert >= 50% and update >= 30% of the COPY rate, and
a peak RSS that does not grow with the record count. Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/postgres_write.py [--records 1000000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from sync_platform.destinations.postgres import PostgresDestination, stream_layout
from sync_platform.destinations.postgres.encoding import copy_text, encode_json
from sync_platform.embedded_postgres import embedded_postgres
from sync_platform.protocol import ConfiguredCatalog, ConfiguredStream, Message, Stream, record, stream_state

STREAM = "invoice"
ACCOUNT = "acct_1BenchAccount00"
BASE_TIME = 1_700_000_000
BACKSLASH = "\\"

# --- Stripe-shaped records ------------------------------------------------------------------------

_STATUSES = ("paid", "paid", "paid", "open", "draft", "void", "uncollectible")
_REASONS = ("subscription_cycle", "subscription_create", "manual", "subscription_update")
_NAMES = ("Jane Doe", "John Roe", "Ada Lovelace", "Grace Hopper", None)
_DESCRIPTIONS = (None, "Monthly subscription", "One-off invoice for consulting services rendered in March")
_PLANS = ("Starter", "Pro", "Business", "Enterprise")


def invoice_schema() -> dict[str, Any]:
    """The JSON schema of the records below, as the Stripe source would describe an invoice."""
    nullable_text = {"type": ["string", "null"]}
    unix = {"type": "integer", "format": "unix-time"}
    properties: dict[str, Any] = {
        "id": {"type": "string"},
        "object": {"type": "string"},
        "account_country": {"type": "string"},
        "account_name": nullable_text,
        "amount_due": {"type": "integer"},
        "amount_paid": {"type": "integer"},
        "amount_remaining": {"type": "integer"},
        "attempt_count": {"type": "integer"},
        "attempted": {"type": "boolean"},
        "auto_advance": {"type": "boolean"},
        "billing_reason": nullable_text,
        "collection_method": {"type": "string"},
        "created": unix,
        "currency": {"type": "string"},
        "customer": {"type": ["string", "null"], "x-expandable-reference": True},
        "customer_email": nullable_text,
        "customer_name": nullable_text,
        "customer_address": {"type": ["object", "null"]},
        "description": nullable_text,
        "discount": {"type": ["object", "null"]},
        "due_date": {"type": ["integer", "null"], "format": "unix-time"},
        "hosted_invoice_url": nullable_text,
        "lines": {"type": "object", "x-stripe-list": True},
        "livemode": {"type": "boolean"},
        "metadata": {"type": ["object", "null"]},
        "number": nullable_text,
        "paid": {"type": "boolean"},
        "period_end": unix,
        "period_start": unix,
        "status": nullable_text,
        "status_transitions": {"type": ["object", "null"]},
        "subscription": {"type": ["string", "null"], "x-expandable-reference": True},
        "subtotal": {"type": "integer"},
        "tax": {"type": ["integer", "null"]},
        "total": {"type": "integer"},
        "webhooks_delivered_at": {"type": ["integer", "null"], "format": "unix-time"},
        "_account_id": {"type": "string", "enum": [ACCOUNT]},
        "_updated_at": unix,
    }
    return {"type": "object", "properties": properties, "required": ["id", "_account_id", "_updated_at"]}


def make_records(n: int, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` invoice-like records (~1.5 KB of JSON each), ids ``in_0..``; the seed varies content.

    The same ``n`` with another seed gives the same ids with other contents and a later
    ``_updated_at``: a full set of newer versions. Records are produced lazily, so memory does not
    grow with ``n``.
    """
    rng = random.Random(seed)
    for i in range(n):
        created = BASE_TIME + i
        amount = rng.randrange(100, 500_000)
        paid = rng.random() < 0.8
        invoice_id = f"in_{i:020d}"
        customer = f"cus_{i % 50_000:014d}"
        lines = 2 if i % 3 == 0 else 1
        yield {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Acme Corporation",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount,
            "attempt_count": i % 4,
            "attempted": True,
            "auto_advance": not paid,
            "billing_reason": _REASONS[i % len(_REASONS)],
            "collection_method": "charge_automatically",
            "created": created,
            "currency": "usd",
            "customer": customer,
            "customer_email": f"customer{i % 50_000}@example.com",
            "customer_name": _NAMES[i % len(_NAMES)],
            "customer_address": {
                "city": "San Francisco",
                "country": "US",
                "line1": f"{rng.randrange(1, 999)} Market Street",
                "line2": None,
                "postal_code": "94105",
                "state": "CA",
            },
            "description": _DESCRIPTIONS[i % len(_DESCRIPTIONS)],
            "discount": None,
            "due_date": None if paid else created + 2_592_000,
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_1Bench/test_{invoice_id}",
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": f"il_{i:020d}_{k}",
                        "object": "line_item",
                        "amount": amount // 2,
                        "currency": "usd",
                        "description": f"1 × {_PLANS[(i + k) % len(_PLANS)]} (at $49.00 / month)",
                        "period": {"end": created + 2_592_000, "start": created},
                        "quantity": 1,
                    }
                    for k in range(lines)
                ],
                "has_more": False,
                "total_count": lines,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {"order_id": str(rng.randrange(10**9)), "channel": "web"},
            "number": f"ACME-{i:08d}",
            "paid": paid,
            "period_end": created,
            "period_start": created - 2_592_000,
            "status": _STATUSES[i % len(_STATUSES)],
            "status_transitions": {"finalized_at": created, "paid_at": created + 60 if paid else None},
            "subscription": f"sub_{i % 30_000:014d}",
            "subtotal": amount,
            "tax": None,
            "total": amount,
            "webhooks_delivered_at": created,
            "_account_id": ACCOUNT,
            "_updated_at": created + seed,
        }


class TimedRecords:
    """Wraps the factory and adds up the time spent inside it, so rates can exclude generation."""

    def __init__(self, n: int, seed: int) -> None:
        self._records = make_records(n, seed)
        self.seconds = 0.0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            started = time.perf_counter()
            item = next(self._records, None)
            self.seconds += time.perf_counter() - started
            if item is None:
                return
            yield item


# --- the three measurements (run in a child process each) -----------------------------------------


def catalog() -> ConfiguredCatalog:
    stream = Stream(name=STREAM, primary_key=[["id"], ["_account_id"]], json_schema=invoice_schema())
    return ConfiguredCatalog(streams=[ConfiguredStream(stream=stream)])


def measure_copy(url: str, schema: str, n: int, batch_size: int) -> tuple[float, float]:
    """COPY the encoded rows into an unindexed table of the destination's shape."""
    layout = stream_layout(catalog().streams[0].stream)
    asyncio.run(_drain(PostgresDestination().setup({"url": url, "schema": schema}, catalog())))
    table = sql.Identifier(schema, layout.table)
    records = TimedRecords(n, seed=1)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(f"{layout.table}_pkey"))
        )
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy(
                sql.SQL("COPY {} (id, _account_id, _updated_at, _raw_data) FROM STDIN").format(table)
            ) as copy,
        ):
            lines: list[str] = []
            for data in records:
                text, data, _ = encode_json(data)
                stamp = datetime.fromtimestamp(data["_updated_at"], UTC).isoformat()
                key = f"{copy_text(data['id'])}\t{copy_text(data['_account_id'])}"
                lines.append(f"{key}\t{stamp}\t{text.replace(BACKSLASH, BACKSLASH * 2)}\n")
                if len(lines) >= batch_size:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        elapsed = time.perf_counter() - started
    return elapsed, records.seconds


async def _drain(messages: AsyncIterator[Message]) -> list[Message]:
    return [message async for message in messages]


def measure_write(
    url: str, schema: str, n: int, batch_size: int, state_every: int, seed: int
) -> tuple[float, float]:
    """Run the destination's ``write()`` over ``n`` records; fails loudly if any flush failed."""
    records = TimedRecords(n, seed)

    async def source() -> AsyncIterator[Message]:
        for index, data in enumerate(records, start=1):
            yield record(STREAM, data)
            if index % state_every == 0:
                yield stream_state(STREAM, {"offset": index})
        yield stream_state(STREAM, {"offset": n})

    async def consume() -> None:
        config = {"url": url, "schema": schema, "batch_size": batch_size}
        async for message in PostgresDestination().write(config, catalog(), source()):
            if message.type == "stream_status":  # only errors come back as stream_status here
                raise SystemExit(f"write failed: {message.to_wire()}")

    started = time.perf_counter()
    asyncio.run(consume())
    return time.perf_counter() - started, records.seconds


def child(args: argparse.Namespace) -> None:
    if args.mode == "copy":
        elapsed, generating = measure_copy(args.url, args.schema, args.records, args.batch_size)
    else:
        seed = 1 if args.mode == "insert" else 2
        elapsed, generating = measure_write(
            args.url, args.schema, args.records, args.batch_size, args.state_every, seed
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"elapsed": elapsed, "generating": generating, "peak_rss_mib": peak_kib / 1024}))


# --- the driver -----------------------------------------------------------------------------------


def run_child(mode: str, url: str, schema: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--url",
        url,
        "--schema",
        schema,
        "--records",
        str(n),
        "--batch-size",
        str(args.batch_size),
        "--state-every",
        str(args.state_every),
    ]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    measured["rate"] = n / max(measured["elapsed"] - measured["generating"], 1e-9)
    return measured


def record_size() -> int:
    sizes = [len(encode_json(data)[0].encode()) for data in make_records(1000, 1)]
    return sum(sizes) // len(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--state-every", type=int, default=1000)
    parser.add_argument("--child", choices=["copy", "insert", "update"])
    parser.add_argument("--url")
    parser.add_argument("--schema")
    args = parser.parse_args()
    if args.child:
        args.mode = args.child
        child(args)
        return

    sizes = sorted({min(100_000, args.records), args.records})
    rows: list[str] = []
    with (
        tempfile.TemporaryDirectory() as home,
        embedded_postgres(Path(home) / "pgdata", delete_on_exit=True) as url,
    ):
        for n in sizes:
            baseline = run_child("copy", url, f"bench_copy_{n}", n, args)
            results = {"copy": baseline}
            for mode in ("insert", "update"):
                results[mode] = run_child(mode, url, f"bench_write_{n}", n, args)
            for mode, measured in results.items():
                share = measured["rate"] / baseline["rate"]
                rows.append(
                    f"| {n:,} | {mode} | {measured['rate']:,.0f} | {share:.0%} | "
                    f"{measured['elapsed'] - measured['generating']:.1f} | {measured['peak_rss_mib']:.0f} |"
                )
            with psycopg.connect(url, autocommit=True) as connection:
                for schema in (f"bench_copy_{n}", f"bench_write_{n}"):
                    connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            print(f"measured {n:,} records", file=sys.stderr)
    print(
        f"Records: ~{record_size():,} bytes of JSON each; batch_size {args.batch_size}, a state every "
        f"{args.state_every} records.\n"
    )
    print("| records | path | rows/s | vs COPY | seconds | peak RSS (MiB) |")
    print("|---:|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
