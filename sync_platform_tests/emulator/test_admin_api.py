"""The HTTP admin API (``/_emulator/...``) does what the Python API does."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import stripe

from sync_platform.emulator import RunningEmulator


@pytest.fixture
def admin(stripe_emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stripe_emulator.base_url}/_emulator") as client:
        yield client


def test_create_update_delete_over_http(stripe_emulator: RunningEmulator, admin: httpx.Client) -> None:
    created = admin.post("/objects/customer", json={"fields": {"email": "a@example.com"}})
    assert created.status_code == 200
    customer_id = created.json()["object"]["id"]
    assert created.json()["event"]["type"] == "customer.created"
    updated = admin.post(f"/objects/customer/{customer_id}", json={"fields": {"email": "b@example.com"}})
    assert updated.json()["event"]["data"]["previous_attributes"] == {"email": "a@example.com"}
    deleted = admin.delete(f"/objects/customer/{customer_id}")
    assert deleted.json()["object"] == {"id": customer_id, "object": "customer", "deleted": True}
    types = [e["type"] for e in stripe_emulator.events()]
    assert types == ["customer.deleted", "customer.updated", "customer.created"]


def test_invoice_lines_can_be_given_on_create(stripe_emulator: RunningEmulator, admin: httpx.Client) -> None:
    lines = [{"amount": 100 * n, "description": f"line {n}"} for n in range(12)]
    created = admin.post("/objects/invoice", json={"fields": {"lines": lines}}).json()["object"]
    assert len(created["lines"]["data"]) == 10
    assert created["lines"]["has_more"] is True
    listed = list(stripe_emulator.client().v1.invoices.line_items.list(created["id"]).auto_paging_iter())
    assert [line.amount for line in listed] == [line["amount"] for line in lines]
    assert all(line.id.startswith("il_") for line in listed)


def test_faults_are_set_and_cleared_over_http(stripe_emulator: RunningEmulator, admin: httpx.Client) -> None:
    script = {"scripted": [{"path": "/v1/customers", "nth": 1, "status": 500}]}
    assert admin.post("/faults", json=script).json()["scripted"][0]["status"] == 500
    with pytest.raises(stripe.APIError):
        stripe_emulator.client().v1.customers.list()
    admin.post("/faults", json={})
    assert stripe_emulator.client().v1.customers.list().object == "list"


def test_bad_admin_input_gets_an_actionable_400(admin: httpx.Client) -> None:
    unknown_stream = admin.post("/objects/custmer", json={})
    assert unknown_stream.status_code == 400
    assert "Did you mean 'customer'" in unknown_stream.json()["error"]["message"]
    bad_faults = admin.post("/faults", json={"error_ratio": 2})
    assert bad_faults.status_code == 400
    assert "error_ratio" in bad_faults.json()["error"]["message"]
    missing = admin.post("/objects/customer/cus_missing", json={"fields": {"name": "x"}})
    assert missing.status_code == 400
    assert "No such customer: 'cus_missing'" in missing.json()["error"]["message"]


def test_reset_and_info(stripe_emulator: RunningEmulator, admin: httpx.Client) -> None:
    admin.post("/objects/customer", json={})
    info = admin.get("/info").json()
    assert info["account_id"] == stripe_emulator.account_id
    count_after_create = info["objects"][stripe_emulator.account_id]["customer"]
    admin.post("/reset")
    assert (
        admin.get("/info").json()["objects"][stripe_emulator.account_id]["customer"] == count_after_create - 1
    )
