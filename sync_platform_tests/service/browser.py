"""Headless Chromium for console tests: Debian's ``chromium`` package driven by Playwright.

Playwright's Python package talks to the browser; the browser itself is the system's (never a
download: ``executable_path`` points at it). Without Chromium the browser tests skip with the
reason, except in CI (``CI=true``), where ``.ci/run`` installs it and a missing browser is a
failure rather than a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--metrics-recording-only",
]
SCREENSHOTS_ENV = "SYNC_PLATFORM_SCREENSHOTS"
"""A directory to also save the console screenshots to (``docs/images`` refreshes the docs')."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium() -> Iterator[object]:
    """A launched headless Chromium (Playwright ``Browser``), for one test: Playwright's sync API
    keeps an event loop running on the thread while it is open, which code that runs its own loop
    on that thread (the engine's blocking facade) must not meet in a later test."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium is not installed; in CI `.ci/run` installs it (apt-get install chromium).")
        pytest.skip(
            "Chromium is not installed here: `apt-get install chromium` to run the console's browser tests."
        )
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def save_screenshot(page: object, name: str, tmp_path: Path) -> Path:
    """Save a full-page PNG in ``tmp_path`` (and in ``$SYNC_PLATFORM_SCREENSHOTS`` when set)."""
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)  # type: ignore[attr-defined]  # a Playwright Page
    extra = os.environ.get(SCREENSHOTS_ENV)
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, Path(extra) / target.name)
    return target
