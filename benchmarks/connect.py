"""A Stripe Connect platform end to end: ``sync-platform sync-batch <id> --loop 0`` into PostgreSQL.

The emulator runs in its own process with N connected accounts of ~20-100 objects each (templates of
0.4, 0.8, 1.2 and 1.6 x ``--objects``, built when first touched), 50 ms of latency and a rate limit
of R requests/s (429s above it). The pipeline selects the default connected stream set
(``DEFAULT_CONNECTED_STREAMS``: the platform and every connected account read those streams) and
lists every account in ``connected_accounts``; it is created from a pipeline file (10,000 account
ids do not fit one command-line argument), then one CLI process runs the backfill, timed whole.

Reported, against the issue's goals: requests (and their floor: pages of data + accounts x
streams, each lane's one page included), wall (and its goal, 1.25 x requests / R + 5 s), client
CPU per request and per object (user + sys of the CLI process and children, from ``wait4``),
the CPU it spent before its first request (start-up: imports, the store, planning; sampled from
``/proc`` every 20 ms) and per request after it, its wake-ups per request (voluntary context
switches: each sleep and wake-up of the process costs CPU of its own, several times a small
page's work on the CI machine), peak RSS, ``/v1/account`` calls, and rows checked per stream
against the emulator.

    .venv/bin/python benchmarks/connect.py [--accounts 100,1000] [--rate 100] [--objects 50]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import CLI, _admin, busiest_second, cpu_at, postgres, timed_cli

KEY = "sk_test_" + "connectbench" * 2
LATENCY_MS = 50
PAGE = 100


def _serve(accounts: int, objects: int, ready: Any) -> None:
    from sync_platform.emulator import Emulator, EmulatorConfig, serve

    config = EmulatorConfig(
        objects=objects,
        connected_accounts=accounts,
        connected_objects=objects,
        seed=1,
        api_keys=(SecretStr(KEY),),
    )
    serve(Emulator(config), port=0, on_listening=ready.put)


def run_round(
    base_url: str, server_url: str, accounts: int, rate: float, streams: list[str]
) -> dict[str, Any]:
    from sync_platform.embedded_postgres import ensure_database

    tag = f"c{accounts}_{int(time.time())}"
    app_url = ensure_database(server_url, f"app_{tag}")
    warehouse = ensure_database(server_url, f"wh_{tag}")
    env = {
        **os.environ,
        "SYNC_PLATFORM_DATABASE_URL": app_url,
        "SYNC_PLATFORM_SECRET_KEY": Fernet.generate_key().decode(),
        "BENCH_STRIPE_KEY": KEY,
        "BENCH_WAREHOUSE_URL": warehouse,
    }
    info = _admin(base_url, "info")
    pipeline = {
        "id": "connect",
        "source": {
            "type": "stripe",
            "stripe": {
                "api_key": {"env": "BENCH_STRIPE_KEY"},
                "base_url": base_url,
                "rate_limit": rate,
                "connected_accounts": info["connected_account_ids"],
            },
        },
        "destination": {"type": "postgres", "postgres": {"url": {"env": "BENCH_WAREHOUSE_URL"}}},
        "streams": [{"name": name} for name in streams],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(pipeline, file)
    create = ["pipelines", "create", "-f", file.name, "--skip-check"]
    done = subprocess.run([CLI, *create], env=env, capture_output=True, text=True)
    os.unlink(file.name)
    if done.returncode != 0:
        raise SystemExit(f"pipelines create failed:\n{done.stderr[-3000:]}")

    _admin(base_url, "requests", method="DELETE")
    _admin(base_url, "faults", {"latency_ms": LATENCY_MS, "rate_limit_per_second": rate}, method="POST")
    result = timed_cli(["sync-batch", "connect", "--loop", "0"], env)
    _admin(base_url, "faults", {}, method="POST")
    log = _admin(base_url, "requests")
    entries = log["requests"] if isinstance(log, dict) else log
    held = _admin(base_url, "info")["objects"]  # every account was touched by now
    expected = Counter()
    pages = 0
    for by_stream in held.values():
        for name in streams:
            count = by_stream.get(name, 0)
            expected[name] += count
            pages += max(1, math.ceil(count / PAGE))
    found = _rows(warehouse, streams)
    paths = Counter(entry["path"] for entry in entries)
    result.update(
        accounts=accounts,
        rate=rate,
        streams=len(streams),
        objects=sum(expected.values()),
        requests=len(entries),
        r429=sum(1 for entry in entries if entry["status"] == 429),
        busiest_second=busiest_second([entry["at"] for entry in entries]),
        startup_cpu_s=cpu_at(result.pop("cpu_samples"), min(entry["at"] for entry in entries)),
        account_lookups=paths.get("/v1/account", 0),
        data_floor=pages,
        exact=all(found.get(name, 0) == expected[name] for name in streams),
        mismatches={n: (found.get(n, 0), expected[n]) for n in streams if found.get(n, 0) != expected[n]},
        top_paths=paths.most_common(12),
    )
    return result


def _rows(warehouse: str, streams: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(warehouse) as connection:
        for name in streams:
            query = psycopg.sql.SQL("SELECT count(*) FROM {}.{}").format(
                psycopg.sql.Identifier("stripe"), psycopg.sql.Identifier(name)
            )
            try:
                (counts[name],) = connection.execute(query).fetchone()  # type: ignore[misc]
            except psycopg.errors.UndefinedTable:
                connection.rollback()
                counts[name] = 0
    return counts


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| accounts | streams | objects | requests | data floor | req ÷ floor | wall s | wall goal s "
        "| objects/s | client CPU s | CPU ms/request | CPU µs/object | start-up CPU s "
        "| CPU ms/request after start-up | wake-ups/request | peak RSS MiB | /v1/account | 429s | exact? |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        goal = 1.25 * r["requests"] / r["rate"] + 5
        cpu, requests, objects = r["cpu_s"], r["requests"], max(1, r["objects"])
        startup = r["startup_cpu_s"]  # before the first request: imports, the store, planning
        exact = "yes" if r["exact"] else r["mismatches"]
        lines.append(
            f"| {r['accounts']:,} | {r['streams']} | {r['objects']:,} | {requests:,} | "
            f"{r['data_floor']:,} | {requests / r['data_floor']:.2f} | {r['wall_s']:.1f} | {goal:.1f} | "
            f"{objects / r['wall_s']:,.0f} | {cpu:.1f} | {1e3 * cpu / requests:.2f} | "
            f"{1e6 * cpu / objects:,.0f} | {startup:.2f} | {1e3 * (cpu - startup) / requests:.2f} | "
            f"{r['waits'] / requests:.1f} | {r['rss_mib']:,.0f} | "
            f"{r['account_lookups']} | {r['r429']} | "
            f"{exact} |"
        )
    return "\n".join(lines)


def main() -> None:
    from sync_platform.sources.stripe.config import DEFAULT_CONNECTED_STREAMS

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", default="100,1000", help="Comma-separated connected-account counts.")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="Requests per second (emulator and client)."
    )
    parser.add_argument("--objects", type=int, default=50, help="Objects per connected account (mean).")
    parser.add_argument("--json", action="store_true", help="Print the raw results as JSON too.")
    args = parser.parse_args()
    streams = list(DEFAULT_CONNECTED_STREAMS)
    results = []
    with postgres() as server_url:
        for accounts in (int(n) for n in args.accounts.split(",")):
            ready: Any = multiprocessing.Queue()
            server = multiprocessing.Process(target=_serve, args=(accounts, args.objects, ready), daemon=True)
            server.start()
            try:
                base_url = ready.get(timeout=600)
                results.append(run_round(base_url, server_url, accounts, args.rate, streams))
            finally:
                server.terminate()
            print(table(results[-1:]), flush=True)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(
        f"# connect: {args.objects} objects per account (mean), {LATENCY_MS} ms latency, "
        f"{args.rate:g} req/s, {python}, {os.cpu_count()} CPUs"
    )
    print(table(results))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
