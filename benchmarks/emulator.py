"""Stripe emulator throughput: pages of 100 objects served per second by one server process.

The emulator runs in its own process (as ``sync-platform emulator serve`` does), with no injected
latency; client threads in this process walk each list with ``starting_after`` cursors, over and
over, on keep-alive connections, and only read the bytes (so the client is not what limits).
A last row goes through the real ``stripe`` SDK's auto-pagination, which is bound by the
client's own JSON-to-object conversion. Goal: >= 400 pages/s, well above Stripe's live limit of
100 requests/s, so the emulator never limits a sync.

    .venv/bin/python benchmarks/emulator.py [--objects 5000] [--seconds 5] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import platform
import threading
import time
import urllib.parse
from typing import Any

import stripe
from pydantic import SecretStr

KEY = "sk_test_" + "benchmark" * 3
STREAMS = (("customer", "/v1/customers"), ("invoice", "/v1/invoices"), ("charge", "/v1/charges"))


def _serve(objects: int, ready: Any) -> None:
    from sync_platform.emulator import Emulator, EmulatorConfig, serve

    emulator = Emulator(EmulatorConfig(objects=objects, seed=1, api_keys=(SecretStr(KEY),)))
    serve(emulator, port=0, on_listening=ready.put)


def _page_cursors(base_url: str, path: str) -> list[str | None]:
    """The ``starting_after`` of every page of a list, found once, so timed clients parse nothing."""
    client = stripe.StripeClient(KEY, base_addresses={"api": base_url}, max_network_retries=0)
    cursors: list[str | None] = [None]
    cursor = None
    while True:
        params = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
        page = json.loads(client.raw_request("get", path, **params).body)
        if not page["has_more"]:
            return cursors
        cursor = page["data"][-1]["id"]
        cursors.append(cursor)


def _walk(
    base_url: str, path: str, cursors: list[str | None], deadline: float, totals: list[tuple[int, int]]
) -> None:
    host, port = urllib.parse.urlsplit(base_url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port))
    headers = {"Authorization": f"Bearer {KEY}"}
    pages = size = 0
    while time.perf_counter() < deadline:
        cursor = cursors[pages % len(cursors)]
        query = "limit=100" + (f"&starting_after={cursor}" if cursor else "")
        connection.request("GET", f"{path}?{query}", headers=headers)
        size += len(connection.getresponse().read())
        pages += 1
    connection.close()
    totals.append((pages, size))  # list.append is atomic


def _measure(base_url: str, path: str, seconds: float, threads: int) -> tuple[float, float]:
    cursors = _page_cursors(base_url, path)  # this first walk also fills the emulator's JSON caches
    totals: list[tuple[int, int]] = []
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    workers = [
        threading.Thread(target=_walk, args=(base_url, path, cursors, deadline, totals))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    pages = sum(p for p, _ in totals)
    return pages / elapsed, sum(s for _, s in totals) / max(1, pages) / 1024


def _measure_sdk(base_url: str, seconds: float) -> float:
    client = stripe.StripeClient(KEY, base_addresses={"api": base_url}, max_network_retries=0)
    pages, deadline, started = 0, time.perf_counter() + seconds, time.perf_counter()
    while time.perf_counter() < deadline:
        page = client.v1.customers.list({"limit": 100})
        pages += 1
        while page.has_more and time.perf_counter() < deadline:
            page = page.next_page()
            pages += 1
    return pages / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    server = context.Process(target=_serve, args=(args.objects, ready), daemon=True)
    server.start()
    try:
        base_url = ready.get(timeout=120)
        print(f"Stripe emulator, {args.objects:,} objects, {args.threads} client threads, "
              f"{args.seconds:.0f} s per row, Python {platform.python_version()}\n")  # fmt: skip
        print("| list (limit=100) | pages/s | KiB/page |")
        print("|---|---:|---:|")
        for name, path in STREAMS:
            rate, kib = _measure(base_url, path, args.seconds, args.threads)
            print(f"| {name} | {rate:,.0f} | {kib:,.0f} |")
        sdk_rate = _measure_sdk(base_url, args.seconds)
        print(f"| customer, via stripe SDK auto-paging (1 thread) | {sdk_rate:,.0f} | - |")
    finally:
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
