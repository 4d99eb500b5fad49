"""Benchmark: the PostgreSQL destination's write path against a plain COPY of the same rows.

For each record count (100,000 and ``--records``, default 1,000,000) four measurements run, each in
its own process so its peak RSS is its own:

- ``copy``, the baseline: the same rows (key, ``_updated_at``, every typed column, the raw JSON),
  converted client-side the way a plain loader would and COPYed in one transaction into a table of
  the destination's shape with no primary key and no index.
- ``copy_raw``, a stricter reference: the same but with the typed columns left NULL, i.e. the least
  work that still moves every byte of JSON.
- ``insert``: ``PostgresDestination.write()`` into an empty table, a stream state every
  ``--state-every`` records (each one a committed flush, as a source's checkpoints would force).
- ``update``: the same ids again, each a newer version, into the now full table.

Rates exclude the time spent generating records and wrapping them in messages (measured around the
generator and subtracted), so they compare the write paths only. CPU per row is shown for the
client process and for the embedded server (all its processes), which stays meaningful when other
work shares the machine. Goals: insert >= 50% and update >= 30% of the baseline, and a peak RSS
that does not grow with the record count. Prints a markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/postgres_write.py [--records 1000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from sync_platform.destinations.postgres import PostgresDestination, stream_layout
from sync_platform.destinations.postgres.encoding import copy_text, encode_json
from sync_platform.destinations.postgres.layout import TypedColumn
from sync_platform.destinations.postgres.type_rules import ACCEPTS, ColumnKind
from sync_platform.embedded_postgres import embedded_postgres
from sync_platform.protocol import ConfiguredCatalog, ConfiguredStream, Message, Stream, record, stream_state

PATHS = {
    "copy": "COPY baseline (same rows)",
    "copy_raw": "COPY (raw JSON only)",
    "insert": "write(): insert",
    "update": "write(): update",
}
STREAM = "invoice"
ACCOUNT = "acct_1BenchAccount00"
BASE_TIME = 1_700_000_000

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
    """Wraps the factory and adds up the time (and CPU) spent in it, so rates can exclude it.

    For the destination the factory's records are wrapped in record messages inside the timed
    part too: building messages is the source's and the engine's work, not the destination's.
    """

    def __init__(self, n: int, seed: int, wrap: Callable[[dict[str, Any]], Any] | None = None) -> None:
        records = make_records(n, seed)
        self._records = records if wrap is None else map(wrap, records)
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __iter__(self) -> Iterator[Any]:
        while True:
            started, cpu_started = time.perf_counter(), time.process_time()
            item = next(self._records, None)
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu_started
            if item is None:
                return
            yield item


# --- the three measurements (run in a child process each) -----------------------------------------


def catalog() -> ConfiguredCatalog:
    stream = Stream(name=STREAM, primary_key=[["id"], ["_account_id"]], json_schema=invoice_schema())
    return ConfiguredCatalog(streams=[ConfiguredStream(stream=stream)])


def _timestamp(seconds: Any) -> bytes:
    return datetime.fromtimestamp(seconds, UTC).isoformat().encode()


def _json_cell(value: Any) -> bytes:
    return encode_json(value)[0].replace(b"\\", b"\\\\")


_CELL: dict[ColumnKind, Callable[[Any], bytes]] = {
    ColumnKind.TEXT: lambda value: copy_text(value).encode(),
    ColumnKind.REFERENCE: lambda value: copy_text(value if isinstance(value, str) else value["id"]).encode(),
    ColumnKind.BOOLEAN: lambda value: b"t" if value else b"f",
    ColumnKind.BIGINT: lambda value: str(int(value)).encode(),
    ColumnKind.NUMERIC: lambda value: repr(value).encode(),
    ColumnKind.UNIX_TIME: _timestamp,
    ColumnKind.JSON: _json_cell,
    ColumnKind.ANY: _json_cell,
}


def typed_cells(columns: list[TypedColumn], data: dict[str, Any]) -> bytes:
    """The typed columns of one row as COPY text, converted client-side as a plain loader would."""
    cells = []
    for column in columns:
        value = data.get(column.field)
        ok = value is not None and ACCEPTS[column.kind](value)
        cells.append(_CELL[column.kind](value) if ok else b"\\N")
    return b"\t".join(cells)


def measure_copy(
    url: str, schema: str, n: int, batch_size: int, *, typed: bool
) -> tuple[float, TimedRecords]:
    """COPY the rows into an unindexed table of the destination's shape (typed columns too, or not)."""
    layout = stream_layout(catalog().streams[0].stream)
    asyncio.run(_drain(PostgresDestination().setup({"url": url, "schema": schema}, catalog())))
    table = sql.Identifier(schema, layout.table)
    columns = list(layout.columns) if typed else []
    names = ["id", "_account_id", "_updated_at", *(c.name for c in columns), "_raw_data"]
    records = TimedRecords(n, seed=1)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(f"{layout.table}_pkey"))
        )
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            table, sql.SQL(", ").join(sql.Identifier(name) for name in names)
        )
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            lines: list[bytes] = []
            for data in records:
                raw, data, _ = encode_json(data)
                key = f"{copy_text(data['id'])}\t{copy_text(data['_account_id'])}\t".encode()
                cells = [key + _timestamp(data["_updated_at"])]
                if columns:
                    cells.append(typed_cells(columns, data))
                cells.append(raw.replace(b"\\", b"\\\\"))
                lines.append(b"\t".join(cells) + b"\n")
                if len(lines) >= batch_size:
                    copy.write(b"".join(lines))
                    lines.clear()
            copy.write(b"".join(lines))
        elapsed = time.perf_counter() - started
    return elapsed, records


async def _drain(messages: AsyncIterator[Message]) -> list[Message]:
    return [message async for message in messages]


def measure_write(
    url: str, schema: str, n: int, batch_size: int, state_every: int, seed: int
) -> tuple[float, TimedRecords]:
    """Run the destination's ``write()`` over ``n`` records; fails loudly if any flush failed."""
    records = TimedRecords(n, seed, wrap=functools.partial(record, STREAM))

    async def source() -> AsyncIterator[Message]:
        for index, message in enumerate(records, start=1):
            yield message
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
    return time.perf_counter() - started, records


def child(args: argparse.Namespace) -> None:
    cpu_started = time.process_time()
    if args.mode in ("copy", "copy_raw"):
        typed = args.mode == "copy"
        elapsed, records = measure_copy(args.url, args.schema, args.records, args.batch_size, typed=typed)
    else:
        seed = 1 if args.mode == "insert" else 2
        elapsed, records = measure_write(
            args.url, args.schema, args.records, args.batch_size, args.state_every, seed
        )
    client_cpu = time.process_time() - cpu_started - records.cpu_seconds
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    measured = {
        "seconds": elapsed - records.seconds,
        "client_cpu": client_cpu,
        "peak_rss_mib": peak_kib / 1024,
    }
    print(json.dumps(measured))


# --- the driver -----------------------------------------------------------------------------------


def server_cpu_seconds(data_dir: Path | None) -> float | None:
    """CPU used so far by the embedded server's processes (exited backends included), or None."""
    if data_dir is None:
        return None
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid, parent = int(stat.parent.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(value) for value in fields[11:15])  # its own and its reaped children's
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def run_child(
    mode: str, url: str, schema: str, n: int, args: argparse.Namespace, data_dir: Path | None
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--url", url, "--schema", schema]
    command += [
        "--records",
        str(n),
        "--batch-size",
        str(args.batch_size),
        "--state-every",
        str(args.state_every),
    ]
    server_before = server_cpu_seconds(data_dir)
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    server_after = server_cpu_seconds(data_dir)
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    measured["rate"] = n / max(measured["seconds"], 1e-9)
    measured["client_us"] = measured["client_cpu"] / n * 1e6
    if server_before is not None and server_after is not None:
        measured["server_us"] = (server_after - server_before) / n * 1e6
    return measured


def record_size() -> int:
    sizes = [len(encode_json(data)[0]) for data in make_records(1000, 1)]
    return sum(sizes) // len(sizes)


def measure_size(
    url: str, n: int, args: argparse.Namespace, data_dir: Path | None
) -> dict[str, dict[str, Any]]:
    """Best of ``--repeat`` runs of each path (other load on the machine only ever slows a run down)."""
    best: dict[str, dict[str, Any]] = {}
    for attempt in range(args.repeat):
        schemas = {mode: f"bench_{mode}_{n}_{attempt}" for mode in PATHS}
        schemas["update"] = schemas["insert"]
        for mode in PATHS:
            measured = run_child(mode, url, schemas[mode], n, args, data_dir)
            if mode not in best or measured["rate"] > best[mode]["rate"]:
                best[mode] = measured
        with psycopg.connect(url, autocommit=True) as connection:
            for schema in set(schemas.values()):
                connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            connection.execute("CHECKPOINT")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--state-every", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per path; the best one counts.")
    parser.add_argument("--child", choices=[*PATHS])
    parser.add_argument("--url")
    parser.add_argument("--schema")
    args = parser.parse_args()
    if args.child:
        args.mode = args.child
        child(args)
        return

    sizes = sorted({min(100_000, args.records), args.records})
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as home:
        data_dir = None if os.environ.get("DATABASE_URL") else Path(home) / "pgdata"
        with embedded_postgres(data_dir, delete_on_exit=True) as url:
            for n in sizes:
                best = measure_size(url, n, args, data_dir)
                for mode, measured in best.items():
                    share = measured["rate"] / best["copy"]["rate"]
                    raw_share = measured["rate"] / best["copy_raw"]["rate"]
                    server = f"{measured['server_us']:.1f}" if "server_us" in measured else "n/a"
                    lines.append(
                        f"| {n:,} | {PATHS[mode]} | {measured['rate']:,.0f} | {share:.0%} | "
                        f"{raw_share:.0%} | {measured['client_us']:.1f} | {server} | "
                        f"{measured['peak_rss_mib']:.0f} |"
                    )
                print(f"measured {n:,} records", file=sys.stderr)
    print(
        f"Records: ~{record_size():,} bytes of JSON each; batch_size {args.batch_size}, a state every "
        f"{args.state_every} records; best of {args.repeat} run(s) per path.\n"
    )
    print(
        "| records | path | rows/s | vs COPY (same rows) | vs COPY (raw JSON only) | client CPU µs/row "
        "| server CPU µs/row | peak RSS (MiB) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
