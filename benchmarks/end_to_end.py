"""End to end, the way a user runs it: ``sync-platform sync-batch <id> --loop 0`` into PostgreSQL.

The mix of the peers benchmark (the seven streams every peer supports): customers 12,000, products
3,000, prices 6,000, charges 12,000, payment intents 12,000, invoices 9,000 (6 % with 11–40 lines,
a paginated nested list) and subscriptions 6,000 (some canceled): 60,000 objects, scaled by
``--scale``. The emulator runs in its own process with 100 ms of latency per request and a rate
limit of R requests/s (429s above it); PostgreSQL is the embedded server (or ``DATABASE_URL``).

Per round, the backfill (a fresh pipeline) and then ``--changes`` changes (98 % updates, 2 %
deletes) applied by a second ``sync-batch --loop 0`` (the pipeline is ready, so that is its poll
lane). Each is one CLI process, timed whole (start-up included); reported:

- wall time, and the request floor: requests the emulator answered ÷ R (what the rate allows);
- client CPU (user + sys of the CLI process and its children, from ``wait4``) and PostgreSQL server
  CPU (every postgres process of the server, from ``/proc``), per object;
- peak RSS of the CLI process, requests and 429s, the busiest one-second window, and start-up: from
  launching the command to the first request the emulator received;
- rows checked by id against the emulator (missing, extra, stale names for the changes).

    .venv/bin/python benchmarks/end_to_end.py [--rates 100,25] [--scale 1] [--changes 1000]
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
from cryptography.fernet import Fernet
from pydantic import SecretStr

KEY = "sk_test_" + "endtoendbench" * 2
MIX = {
    "customer": 12_000,
    "product": 3_000,
    "price": 6_000,
    "charge": 12_000,
    "payment_intent": 12_000,
    "invoice": 9_000,
    "subscription": 6_000,
}
LATENCY_MS = 100
CLI = str(Path(sys.executable).with_name("sync-platform"))
ROOT = Path(__file__).resolve().parent.parent


def _serve(counts: dict[str, int], ready: Any) -> None:
    from sync_platform.emulator import Emulator, EmulatorConfig, serve

    emulator = Emulator(EmulatorConfig(objects=0, counts=counts, seed=1, api_keys=(SecretStr(KEY),)))
    store = emulator.store  # serialize every object once, as a long-running emulator would have
    account = store.account(None)
    for name in counts:
        table = store.table(account, name)
        for stored in table.objects.values():
            store.body(account, table, stored)
    serve(emulator, port=0, on_listening=ready.put)


def _admin(base_url: str, path: str, body: Any = None, method: str = "GET") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base_url}/_emulator/{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=120) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


@contextmanager
def postgres() -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    from sync_platform.embedded_postgres import embedded_postgres

    with (
        tempfile.TemporaryDirectory() as home,
        embedded_postgres(Path(home) / "pg", delete_on_exit=True) as url,
    ):
        yield url


def server_processes(server_url: str) -> list[psutil.Process]:
    """The PostgreSQL server's processes: the postmaster and its children (backends, workers)."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        (data_dir,) = connection.execute("SHOW data_directory").fetchone()  # type: ignore[misc]
    root = psutil.Process(int((Path(data_dir) / "postmaster.pid").read_text().split()[0]))
    return [root, *root.children(recursive=True)]


def server_cpu_seconds(server_url: str) -> float:
    """User + system CPU of every process of the PostgreSQL server, exited children included."""
    total = 0.0
    for process in server_processes(server_url):
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def _role(command: str, databases: dict[str, str]) -> str:
    """What a server process works for: a backend of one of the run's databases, or the server."""
    title = command.removeprefix("postgres: ")
    for database, role in databases.items():
        if f" {database} " in f" {title} ":
            return f"autovacuum ({role})" if title.startswith("autovacuum worker") else role
    return "server (background writer, WAL writer, checkpointer, launchers)"


class ServerCpuSplit:
    """The server's CPU during a run, split by what each process worked for (sampled every 0.25 s).

    A diagnostic beside the total: it tells the destination's own backend from the application
    database's (checkpoints, run records) and from autovacuum, which PostgreSQL runs on freshly
    written tables whenever its timer says, inside a long run or after a short one. A process that
    exits between two samples loses its last quarter second; the total above counts everything.
    """

    def __init__(self, server_url: str, databases: dict[str, str]) -> None:
        self._url, self._databases = server_url, databases
        self._start: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def _sample(self) -> None:
        for process in server_processes(self._url):
            try:
                times, command = process.cpu_times(), " ".join(process.cmdline())
            except psutil.Error:
                continue
            self._start.setdefault(process.pid, 0.0)
            self._last[process.pid] = (command, times.user + times.system)

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def __enter__(self) -> ServerCpuSplit:
        self._sample()
        self._start = {pid: cpu for pid, (_, cpu) in self._last.items()}
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def seconds(self) -> dict[str, float]:
        split: dict[str, float] = {}
        for pid, (command, cpu) in self._last.items():
            role = _role(command, self._databases)
            split[role] = split.get(role, 0.0) + cpu - self._start.get(pid, 0.0)
        return split


@functools.cache
def compile_project() -> None:
    """The project's modules compiled to bytecode first, as ``make install`` and a wheel's install do.

    Run by hand, a benchmark would otherwise time the editable checkout compiling ~150 modules in
    every CLI process where ``PYTHONDONTWRITEBYTECODE`` is set (~0.12 s of CPU a command), which no
    installed copy does.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "sync_platform")], check=True)


def _sample_cpu(pid: int, samples: list[tuple[float, float]], stop: threading.Event) -> None:
    """The process's own CPU (user + sys, s) every 20 ms from ``/proc``, each with the monotonic
    time it was read at (the emulator stamps requests with the same clock)."""
    tick = os.sysconf("SC_CLK_TCK")
    while not stop.wait(0.02):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()  # fields 3 onwards: utime is 14, stime 15
        except OSError:
            return
        samples.append((time.monotonic(), (int(fields[11]) + int(fields[12])) / tick))


def cpu_at(samples: list[tuple[float, float]], at: float) -> float:
    """The CPU a sampled process had used by ``at`` (the last sample before it; 10 ms ticks)."""
    return max((cpu for when, cpu in samples if when <= at), default=0.0)


def timed_cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one CLI command; its wall time, CPU (with children), peak RSS, and its CPU as it went
    (``cpu_samples``: ``(monotonic time, CPU s)``, for the CPU spent before its first request)."""
    compile_project()
    started = time.perf_counter()
    process = subprocess.Popen([CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_cpu, args=(process.pid, samples, stop), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"sync-platform {' '.join(args)} failed:\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "waits": usage.ru_nvcsw,  # times the process slept and was woken: each costs CPU of its own
        "cpu_samples": samples,
    }


def rows(warehouse: str, schema: str, stream: str) -> dict[str, str | None]:
    with psycopg.connect(warehouse) as connection:
        found = connection.execute(
            psycopg.sql.SQL("SELECT id, _raw_data->>'name' FROM {}.{}").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(stream)
            )
        ).fetchall()
    return {str(row[0]): row[1] for row in found}


def busiest_second(arrivals: list[float]) -> int:
    times = sorted(arrivals)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure(
    base_url: str, server_url: str, env: dict[str, str], args: list[str], rate: float
) -> dict[str, Any]:
    _admin(base_url, "requests", method="DELETE")
    _admin(base_url, "faults", {"latency_ms": LATENCY_MS, "rate_limit_per_second": rate}, method="POST")
    databases = {env["BENCH_WAREHOUSE_DB"]: "destination", env["BENCH_APP_DB"]: "application database"}
    before = server_cpu_seconds(server_url)
    launched = time.monotonic()  # the emulator stamps arrivals with the same system-wide clock
    with ServerCpuSplit(server_url, databases) as split:
        result = timed_cli(args, env)
    del result["cpu_samples"]
    result["pg_cpu_s"] = server_cpu_seconds(server_url) - before
    result["pg_cpu_split_s"] = split.seconds()
    _admin(base_url, "faults", {}, method="POST")
    log = _admin(base_url, "requests")
    entries = log["requests"] if isinstance(log, dict) else log
    result["requests"] = len(entries)
    result["r429"] = sum(1 for entry in entries if entry["status"] == 429)
    result["busiest_second"] = busiest_second([entry["at"] for entry in entries])
    result["startup_s"] = min((entry["at"] for entry in entries), default=launched) - launched
    result["paths"] = sorted({entry["path"] for entry in entries})
    result["floor_s"] = result["requests"] / rate
    return result


def run_round(
    base_url: str, server_url: str, counts: dict[str, int], rate: float, changes: int
) -> dict[str, Any]:
    from sync_platform.embedded_postgres import ensure_database

    tag = f"r{int(rate)}_{int(time.time())}"
    app_url = ensure_database(server_url, f"app_{tag}")
    warehouse = ensure_database(server_url, f"wh_{tag}")
    env = {
        **os.environ,
        "SYNC_PLATFORM_DATABASE_URL": app_url,
        "SYNC_PLATFORM_SECRET_KEY": Fernet.generate_key().decode(),
        "BENCH_STRIPE_KEY": KEY,
        "BENCH_WAREHOUSE_URL": warehouse,
        "BENCH_WAREHOUSE_DB": f"wh_{tag}",
        "BENCH_APP_DB": f"app_{tag}",
    }
    create = [
        "pipelines", "create", "--id", "bench", "--skip-check",
        "--source", "stripe", "--source.api-key-env", "BENCH_STRIPE_KEY", "--source.base-url", base_url,
        "--source.rate-limit", str(rate),
        "--destination", "postgres", "--destination.url-env", "BENCH_WAREHOUSE_URL",
        "--streams", ",".join(counts),
    ]  # fmt: skip
    subprocess.run([CLI, *create], env=env, check=True, capture_output=True)
    objects = sum(counts.values())
    backfill = measure(base_url, server_url, env, ["sync-batch", "bench", "--loop", "0"], rate)
    backfill["objects"] = objects
    missing = sum(len(set(_ids(base_url, s)) - set(rows(warehouse, "stripe", s))) for s in counts)
    backfill["missing"] = missing
    result = {"rate": rate, "backfill": backfill}
    if changes:
        result["changes"] = apply_changes(base_url, server_url, env, warehouse, changes, rate)
    return result


def _ids(base_url: str, stream: str) -> list[str]:
    """Every object id of ``stream``, listed through the API (canceled subscriptions included)."""
    from sync_platform.sources.stripe.catalog import stream_by_name

    path = stream_by_name(stream).list_path
    params: dict[str, str] = {"limit": "100", **({"status": "all"} if stream == "subscription" else {})}
    ids: list[str] = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
        while True:
            page = client.get(path, params=params).json()
            ids += [obj["id"] for obj in page["data"]]
            if not page.get("has_more"):
                return ids
            params["starting_after"] = ids[-1]


def apply_changes(
    base_url: str, server_url: str, env: dict[str, str], warehouse: str, changes: int, rate: float
) -> dict[str, Any]:
    rng = random.Random(7)
    customers = _ids(base_url, "customer")
    picked = rng.sample(customers, changes)
    deletes = picked[: max(1, changes // 50)]
    updates = picked[len(deletes) :]
    time.sleep(1.05 - time.time() % 1)  # a change in the backfill's last second ties with it
    for object_id in updates:
        _admin(
            base_url,
            f"objects/customer/{object_id}",
            {"fields": {"name": f"changed {object_id}"}},
            method="POST",
        )
    for object_id in deletes:
        _admin(base_url, f"objects/customer/{object_id}", method="DELETE")
    result = measure(base_url, server_url, env, ["sync-batch", "bench", "--loop", "0"], rate)
    held = rows(warehouse, "stripe", "customer")
    result["updates_applied"] = sum(1 for i in updates if held.get(i) == f"changed {i}")
    result["deletes_applied"] = sum(1 for i in deletes if i not in held)
    result["changes"] = changes
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| run | rate | objects | wall s | floor s | wall ÷ floor | objects/s | % ceiling | requests | 429s "
        "| busiest 1 s | start-up s | client CPU µs/object | PG CPU µs/object | peak RSS MiB | exact? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        rate = result["rate"]
        b = result["backfill"]
        per = 1e6 / b["objects"]
        lines.append(
            f"| backfill | {rate:g} | {b['objects']:,} | {b['wall_s']:.1f} | {b['floor_s']:.1f} | "
            f"{b['wall_s'] / b['floor_s']:.2f} | {b['objects'] / b['wall_s']:,.0f} | "
            f"{100 * b['objects'] / b['wall_s'] / (rate * 100):.1f} % | {b['requests']:,} | {b['r429']} | "
            f"{b['busiest_second']} | {b['startup_s']:.2f} | {b['cpu_s'] * per:,.0f} | "
            f"{b['pg_cpu_s'] * per:,.0f} | {b['rss_mib']:,.0f} | "
            f"{'yes' if b['missing'] == 0 else str(b['missing']) + ' missing'} |"
        )
        if c := result.get("changes"):
            exact = c["updates_applied"] + c["deletes_applied"] == c["changes"]
            ratio = c["wall_s"] / max(c["floor_s"], 0.01)
            lines.append(
                f"| {c['changes']:,} changes | {rate:g} | {c['changes']:,} | {c['wall_s']:.1f} | "
                f"{c['floor_s']:.1f} | {ratio:.2f} | – | – | {c['requests']:,} | {c['r429']} | "
                f"{c['busiest_second']} | {c['startup_s']:.2f} | – | – | {c['rss_mib']:,.0f} | "
                f"{'yes' if exact else 'no'} |"
            )
    return "\n".join(lines)


def diagnostics(results: list[dict[str, Any]]) -> str:
    """Per backfill: the client's wake-ups per request, and PostgreSQL's CPU per object split by
    what the server's processes worked for (sampled; the table's figure counts exited ones too)."""
    lines = ["", "Client wake-ups per request; PostgreSQL CPU µs/object by process:"]
    for result in results:
        b = result["backfill"]
        parts = sorted(b["pg_cpu_split_s"].items(), key=lambda item: -item[1])
        per = 1e6 / b["objects"]
        described = ", ".join(f"{role} {seconds * per:,.0f}" for role, seconds in parts if seconds)
        waits = b["waits"] / b["requests"]
        lines.append(f"- backfill at {result['rate']:g} req/s: {waits:.1f} wake-ups/request; {described}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="100,25", help="Comma-separated request rates (req/s).")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply the 60,000-object mix.")
    parser.add_argument("--changes", type=int, default=1000, help="Changes applied after each backfill.")
    parser.add_argument("--json", action="store_true", help="Print the raw results as JSON too.")
    args = parser.parse_args()
    counts = {stream: max(1, int(n * args.scale)) for stream, n in MIX.items()}
    ready: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(counts, ready), daemon=True)
    server.start()
    base_url = ready.get(timeout=600)
    results = []
    try:
        with postgres() as server_url:
            for rate in (float(r) for r in args.rates.split(",")):
                results.append(run_round(base_url, server_url, counts, rate, args.changes))
    finally:
        server.terminate()
    python = f"{platform.python_implementation()} {platform.python_version()}"
    total = sum(counts.values())
    print(f"# end to end: {total:,} objects, {LATENCY_MS} ms latency, {python}, {os.cpu_count()} CPUs")
    print(table(results))
    print(diagnostics(results))
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
