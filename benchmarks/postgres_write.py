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

Records are Stripe charges from the emulator's generator (``sync_platform.emulator``: SDK-derived
fields, its relations, embedded refunds), typed by the Stripe source's own catalog schema. The
driver generates a pool of distinct charges once (by default 10,000 of at most 2,000 bytes of JSON:
the generator's charges without its ~2 KB ``payment_method_details``; ~1.9 KB once they carry
their ids and sync fields), and each child cycles through it, giving record ``i`` its own id
``ch_<i>``, ``created``, amounts and ``_updated_at`` (the generator makes ~5,000 charges a second,
so a million fresh ones per path would add minutes to every run). Rates
exclude the time spent producing records and wrapping them in messages (measured around the
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
import itertools
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

import orjson
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
STREAM = "charge"
ACCOUNT = "acct_1BenchAccount00"
BASE_TIME = 1_700_000_000
POOL_BATCH = 20_000  # charges generated per emulator dataset while filling the pool
MAX_POOL_DRAWS = 20  # give up after generating this many charges per pool slot
VERSION_STRIDE = 7_919  # the update pass starts this far into the pool, so each id gets new contents

# --- Stripe-shaped records, from the emulator's generator ------------------------------------------


def build_pool(path: Path, size: int, max_bytes: int, seed: int) -> tuple[int, int]:
    """Write up to ``size`` distinct charges of the emulator's generator to ``path`` (one JSON a line).

    The charges are the ones an emulator with this seed serves (``Emulator.objects("charge")``: the
    generator's SDK-derived fields, its relations, embedded refunds), keeping those whose JSON is at
    most ``max_bytes`` (0 keeps all). The charge stream of the Stripe source's catalog goes next to
    it (``schema_path``). Runs in a process of its own (``--build-pool``), so neither the generator
    nor the stripe SDK is ever loaded by the driver or a measured child: their peak RSS is the
    write path's. Returns (charges kept, charges generated).
    """
    from sync_platform.emulator import Emulator, EmulatorConfig, generate_dataset
    from sync_platform.sources.stripe import stream_by_name

    schema_path(path).write_text(stream_by_name(STREAM).to_stream([ACCOUNT]).model_dump_json(by_alias=True))
    kept = generated = 0
    with path.open("wb") as out:
        while kept < size and generated < size * MAX_POOL_DRAWS:
            batch = min(POOL_BATCH, size * MAX_POOL_DRAWS - generated)
            config = EmulatorConfig(seed=seed + generated, objects=0, counts={STREAM: batch})
            for charge in Emulator(config).objects(STREAM):
                line = orjson.dumps(charge)
                if kept < size and (max_bytes <= 0 or len(line) <= max_bytes):
                    out.write(line + b"\n")
                    kept += 1
            generated += batch
            generate_dataset.cache_clear()  # keep the pool file, not every dataset
    if kept == 0:
        raise SystemExit(f"No generated charge fits --max-record-bytes {max_bytes}; raise it, or pass 0.")
    return kept, generated


def schema_path(pool: Path) -> Path:
    return pool.with_suffix(".stream.json")


def run_build_pool(pool: Path, args: argparse.Namespace) -> tuple[int, int]:
    command = [sys.executable, __file__, "--build-pool", str(pool), "--pool-size", str(args.pool_size)]
    command += ["--max-record-bytes", str(args.max_record_bytes), "--seed", str(args.seed)]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    kept, generated = json.loads(result.stdout.strip().splitlines()[-1])
    return int(kept), int(generated)


def pooled(path: Path, start: int) -> Iterator[bytes]:
    """The pool's lines in a cycle, from line ``start`` (modulo the pool's size) on, read lazily."""
    with path.open("rb") as lines:
        size = sum(1 for _ in lines)
    skip = start % size
    while True:
        with path.open("rb") as lines:
            yield from itertools.islice(lines, skip, None)
        skip = 0


def make_records(pool: Path, n: int, seed: int) -> Iterator[dict[str, Any]]:
    """``n`` charges from the generator's pool, ids ``ch_0..``; the seed picks which versions.

    Record ``i`` is pool charge ``i + offset`` (cycling; ``offset`` comes from the seed) with its own
    id, ``created``, amounts and ``_updated_at``, so every id is one distinct row. The same ``n``
    with another seed gives the same ids, other pool charges as contents and a later
    ``_updated_at``: a full set of newer versions. Lazy, so memory does not grow with ``n``.
    """
    rng = random.Random(seed)
    lines = pooled(pool, start=(seed - 1) * VERSION_STRIDE)
    for i in range(n):
        charge: dict[str, Any] = orjson.loads(next(lines))
        charge_id = f"ch_{i:024d}"
        amount = rng.randrange(100, 500_000)
        charge.update(
            id=charge_id,
            created=BASE_TIME + i,
            amount=amount,
            amount_captured=amount if charge.get("captured") else 0,
            _account_id=ACCOUNT,
            _updated_at=BASE_TIME + i + seed,
        )
        refunds = charge.get("refunds")
        if isinstance(refunds, dict):  # the embedded list points at its charge
            refunds["url"] = f"/v1/charges/{charge_id}/refunds"
            for refund in refunds.get("data") or []:
                refund["charge"] = charge_id
        yield charge


class TimedRecords:
    """Wraps the factory and adds up the time (and CPU) spent in it, so rates can exclude it.

    For the destination the factory's records are wrapped in record messages inside the timed
    part too: building messages is the source's and the engine's work, not the destination's.
    """

    def __init__(
        self, pool: Path, n: int, seed: int, wrap: Callable[[dict[str, Any]], Any] | None = None
    ) -> None:
        records = make_records(pool, n, seed)
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


def catalog(pool: Path) -> ConfiguredCatalog:
    """The charge stream exactly as the Stripe source's catalog describes it (SDK-derived schema)."""
    stream = Stream.model_validate_json(schema_path(pool).read_text())
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
    url: str, schema: str, pool: Path, n: int, batch_size: int, *, typed: bool
) -> tuple[float, TimedRecords]:
    """COPY the rows into an unindexed table of the destination's shape (typed columns too, or not)."""
    layout = stream_layout(catalog(pool).streams[0].stream)
    asyncio.run(_drain(PostgresDestination().setup({"url": url, "schema": schema}, catalog(pool))))
    table = sql.Identifier(schema, layout.table)
    columns = list(layout.columns) if typed else []
    names = ["id", "_account_id", "_updated_at", *(c.name for c in columns), "_raw_data"]
    records = TimedRecords(pool, n, seed=1)
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
    url: str, schema: str, pool: Path, n: int, batch_size: int, state_every: int, seed: int
) -> tuple[float, TimedRecords]:
    """Run the destination's ``write()`` over ``n`` records; fails loudly if any flush failed."""
    records = TimedRecords(pool, n, seed, wrap=functools.partial(record, STREAM))

    async def source() -> AsyncIterator[Message]:
        for index, message in enumerate(records, start=1):
            yield message
            if index % state_every == 0:
                yield stream_state(STREAM, {"offset": index})
        yield stream_state(STREAM, {"offset": n})

    async def consume() -> None:
        config = {"url": url, "schema": schema, "batch_size": batch_size}
        async for message in PostgresDestination().write(config, catalog(pool), source()):
            if message.type == "stream_status":  # only errors come back as stream_status here
                raise SystemExit(f"write failed: {message.to_wire()}")

    started = time.perf_counter()
    asyncio.run(consume())
    return time.perf_counter() - started, records


def child(args: argparse.Namespace) -> None:
    cpu_started = time.process_time()
    if args.mode in ("copy", "copy_raw"):
        typed = args.mode == "copy"
        elapsed, records = measure_copy(
            args.url, args.schema, args.pool, args.records, args.batch_size, typed=typed
        )
    else:
        seed = 1 if args.mode == "insert" else 2
        elapsed, records = measure_write(
            args.url, args.schema, args.pool, args.records, args.batch_size, args.state_every, seed
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
        "--pool",
        str(args.pool),
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


def record_size(pool: Path, pool_size: int) -> int:
    """Mean JSON size of the records written (one full cycle through the pool)."""
    sizes = [len(encode_json(data)[0]) for data in make_records(pool, pool_size, 1)]
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
    parser.add_argument(
        "--pool-size", type=int, default=10_000, help="Distinct generated charges the records cycle through."
    )
    parser.add_argument(
        "--max-record-bytes",
        type=int,
        default=2_000,
        help="Keep generated charges of at most this much JSON (0: every one, ~3.4 KB on average).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the emulator's generator.")
    parser.add_argument("--child", choices=[*PATHS])
    parser.add_argument("--url")
    parser.add_argument("--schema")
    parser.add_argument("--pool", type=Path)
    parser.add_argument("--build-pool", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_pool:
        print(json.dumps(build_pool(args.build_pool, args.pool_size, args.max_record_bytes, args.seed)))
        return
    if args.child:
        args.mode = args.child
        child(args)
        return

    sizes = sorted({min(100_000, args.records), args.records})
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as home:
        args.pool = Path(home) / "charges.ndjson"
        pool_size, generated = run_build_pool(args.pool, args)
        print(f"pool: {pool_size:,} of {generated:,} generated charges", file=sys.stderr)
        mean_size = record_size(args.pool, pool_size)
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
    cap = f"at most {args.max_record_bytes:,} bytes" if args.max_record_bytes > 0 else "any size"
    print(
        f"Records: charges of the emulator's generator (a pool of {pool_size:,} distinct ones of {cap}, "
        f"of {generated:,} generated, seed {args.seed}), ~{mean_size:,} bytes of JSON each; batch_size "
        f"{args.batch_size}, a state every {args.state_every} records; best of {args.repeat} run(s) "
        "per path.\n"
    )
    print(
        "| records | path | rows/s | vs COPY (same rows) | vs COPY (raw JSON only) | client CPU µs/row "
        "| server CPU µs/row | peak RSS (MiB) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
