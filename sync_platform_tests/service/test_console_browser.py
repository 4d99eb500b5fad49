"""The pipeline console in a real browser (headless Chromium): what an operator does, end to end.

One scenario against the real service, the Stripe emulator and PostgreSQL: sign in with a token,
create a pipeline from the form generated from the connectors' schemas (a refused field shows its
error next to it, and nothing is stored), sync it and watch it go setting_up → backfilling → ready
with rows, pause and resume it, see a failure with its cause, delete it. The screenshots in
``docs/console.md`` are taken on the way (``SYNC_PLATFORM_SCREENSHOTS=docs/images`` saves them there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.emulator.faults import ScriptedFailure
from sync_platform_tests.cli.conftest import DEST_URL_ENV, postgres_rows
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.service.browser import save_screenshot
from sync_platform_tests.service.conftest import SECRETIVE_SOURCE, RunningService, rows_destination

pytestmark = pytest.mark.slow

STREAMS = {"customer": 120, "product": 15, "price": 30}
TIMEOUT_MS = 20_000


@pytest.fixture
def emulator(
    stripe_emulator_factory: Callable[..., RunningEmulator], service_environ: dict[str, str]
) -> RunningEmulator:
    emulator = stripe_emulator_factory(objects=60, seed=11, counts=STREAMS)
    service_environ["STRIPE_API_KEY"] = emulator.secret_key
    return emulator


@pytest.fixture
def page(chromium: Any, service: RunningService) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=service.url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Any, token: str) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/console/login"))
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def field(page: Any, key: str) -> Any:
    return page.locator(f'[data-field="{key}"]')


def badge(page: Any) -> Any:
    return page.locator("#display-status")


def test_an_operator_creates_syncs_pauses_sees_a_failure_and_deletes_a_pipeline(
    page: Any,
    service: RunningService,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    schema = f"{pg.schema}_console"
    # A second pipeline, so the list has more than one row to show.
    other = service.admin.post(
        "/pipelines",
        params={"skip_check": True},
        json={"id": "ledger", "source": SECRETIVE_SOURCE, "destination": rows_destination(pg, "rows_ledger")},
    )
    assert other.status_code == 201, other.text
    assert service.admin.post("/pipelines/ledger/sync").status_code == 200

    sign_in(page, service.admin_token)
    page.click("#new-pipeline")
    page.wait_for_url(re.compile(r"/console/new$"))

    # The form comes from the connectors' schemas: Stripe's key is a secret, given as an env variable.
    expect(page.locator("#source-type")).to_have_value("stripe")
    api_key = field(page, "source.stripe.api_key")
    api_key.locator(".secret-mode").select_option("env")
    api_key.locator(".secret-env").fill("STRIPE_API_KEY")
    page.locator('[data-connector="stripe"] details summary').click()
    field(page, "source.stripe.base_url").locator("input").fill(emulator.base_url)
    field(page, "source.stripe.rate_limit").locator("input").fill("1000")
    page.fill("#pipeline-id-input", "shop")
    expect(page.locator("#destination-type")).to_have_value("postgres")
    url = field(page, "destination.postgres.url")
    url.locator(".secret-mode").select_option("env")
    url.locator(".secret-env").fill(DEST_URL_ENV)
    page.locator('[data-connector="postgres"] details summary').click()
    schema_input = field(page, "destination.postgres.schema").locator("input")
    schema_input.fill("s" * 70)  # over PostgreSQL's 63 bytes: the destination refuses it

    # The stream picker: search, and a whole group at once.
    page.check("input[name=streams-mode][value=some]")
    page.fill("#stream-search", "cust")
    page.locator('.stream[data-stream="customer"] input').check()
    page.fill("#stream-search", "")
    page.locator('.stream-group[data-group="products"] .group-all').check()
    expect(page.locator("#stream-count")).to_have_text(re.compile(r"^\d+ selected$"))

    page.click("#submit")
    schema_error = field(page, "destination.postgres.schema").locator(".field-error")
    expect(schema_error).to_contain_text("schema")
    expect(schema_error).to_contain_text("63 bytes")
    save_screenshot(page, "console-create", tmp_path)
    assert [p["id"] for p in service.admin.get("/pipelines").json()["data"]] == ["ledger"]  # nothing stored

    schema_input.fill(schema)
    page.click("#submit")
    page.wait_for_url(re.compile(r"/console/pipelines/shop$"))
    expect(badge(page)).to_have_text("setting_up")

    # Sync now: the run's own events show every status it moves through.
    page.click("#sync-now")
    lines = page.locator("#sync-lines")
    expect(lines).to_contain_text("run succeeded", timeout=60_000)
    expect(lines).to_contain_text("status: setting_up → backfilling")
    expect(lines).to_contain_text("status: backfilling → ready")
    expect(badge(page)).to_have_text("ready")
    records = int(page.locator("#records").inner_text().replace(",", ""))
    selected = service.store.get("shop").streams
    assert selected is not None
    expected = {(s.name, o["id"]) for s in selected for o in emulator.objects(s.name)}
    assert records == len(expected) > 0
    assert postgres_rows(pg, schema) == expected
    expect(page.locator('#streams tr[data-stream="customer"]')).to_contain_text("completed")
    expect(page.locator("#runs")).to_contain_text("console")
    save_screenshot(page, "console-detail", tmp_path)

    page.click("#pause")
    expect(badge(page)).to_have_text("pausing")
    expect(page.locator("#desired-status")).to_have_text("paused")
    page.click("#sync-now")  # a paused pipeline is refused, with the reason
    expect(page.locator("#notice")).to_contain_text("it is paused")
    page.click("#resume")
    expect(badge(page)).to_have_text("ready")

    # A failure shows with its cause: the Stripe key is refused.
    emulator.set_faults(
        scripted=(
            ScriptedFailure(
                path="/v1/*", method="*", status=401, times=10_000, message="Invalid API Key provided"
            ),
        )
    )
    page.click("#sync-now")
    expect(lines).to_contain_text("run failed", timeout=60_000)
    expect(badge(page)).to_have_text("error")
    expect(page.locator("#pipeline-error")).to_contain_text("auth")
    expect(page.locator("#pipeline-error")).to_contain_text("Invalid API Key provided")
    emulator.set_faults()
    page.goto("/")
    expect(page.locator('tr[data-pipeline="shop"] [data-status]')).to_have_text("error")
    expect(page.locator('tr[data-pipeline="shop"] .error-cell')).to_contain_text("Invalid API Key provided")
    expect(page.locator('tr[data-pipeline="ledger"] [data-records]')).to_have_text("5")
    save_screenshot(page, "console-list", tmp_path)

    # Editing the config (new credentials are the usual fix) clears the recorded error.
    page.click('a[href="/console/pipelines/shop"]')
    page.click("#edit")
    page.wait_for_url(re.compile(r"/console/pipelines/shop/edit$"))
    expect(field(page, "source.stripe.api_key").locator(".secret-env")).to_have_value("STRIPE_API_KEY")
    field(page, "source.stripe.rate_limit").locator("input").fill("500")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/console/pipelines/shop$"))
    expect(page.locator("#pipeline-error")).to_have_count(0)
    expect(badge(page)).to_have_text("resuming")  # the platform's next run picks it up again
    expect(page.locator("#source-config")).to_contain_text('"rate_limit": 500')

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    expect(badge(page)).to_have_text("tearing_down")
    page.goto("/")
    expect(page.locator('tr[data-pipeline="shop"]')).to_have_count(0)
    expect(page.locator('tr[data-pipeline="ledger"]')).to_have_count(1)
