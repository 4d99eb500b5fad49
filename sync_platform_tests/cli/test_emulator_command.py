"""``sync-platform emulator serve`` prints its address and key and serves until interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import stripe

from sync_platform.emulator import Emulator, EmulatorConfig


@pytest.mark.slow
def test_serve_prints_base_url_and_key_then_serves_the_generated_account() -> None:
    command = [str(Path(sys.executable).parent / "sync-platform"), "emulator", "serve"]
    args = ["--port", "0", "--objects", "60", "--seed", "4"]
    process = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        base_url = lines[0].removeprefix("Stripe emulator listening on ")
        key = lines[1].removeprefix("Secret key: ")
        assert base_url.startswith("http://127.0.0.1:")
        assert key.startswith("sk_test_")
        client = stripe.StripeClient(key, base_addresses={"api": base_url}, max_network_retries=0)
        listed = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
        expected = [c["id"] for c in Emulator(EmulatorConfig(objects=60, seed=4)).objects("customer")]
        assert listed == expected  # the same seed serves the same data
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
