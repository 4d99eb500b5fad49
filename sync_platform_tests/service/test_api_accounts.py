"""``GET /pipelines/{id}`` carries a Stripe Connect pipeline's per-account status, read from the
stored checkpoint by the source (the same answer ``pipelines get --json`` prints)."""

from __future__ import annotations

from sync_platform_tests.service.conftest import NULL_DESTINATION, RunningService

SOURCE = {"type": "stripe", "stripe": {"api_key": {"env": "STRIPE_API_KEY"}, "connected_accounts": "all"}}
WINDOW = {"gte": "2024-01-01T00:00:00Z", "lt": "2025-01-01T00:00:00Z"}


def test_the_detail_has_each_accounts_status_and_the_list_does_not(service: RunningService) -> None:
    body = {"id": "market", "source": SOURCE, "destination": NULL_DESTINATION, "streams": ["customer"]}
    assert service.admin.post("/pipelines", json=body, params={"skip_check": True}).status_code == 201
    checkpoint = {
        "source": {
            "global": {
                "connected_accounts": {"ceiling": 1735689600, "ids": ["acct_a", "acct_b", "acct_c"]},
                "account_errors": {"acct_c": {"cause": "HTTP 400", "failure_kind": "invalid_request"}},
            },
            "streams": {
                "customer": {
                    "accounted_range": WINDOW,
                    "remaining": [{"account": "acct_b", **WINDOW, "cursor": None}],
                    "listed": 3,
                    "accounts": {a: {"accounted_range": WINDOW, "listed": 1} for a in ("acct_a", "acct_b")},
                }
            },
        }
    }
    service.store.save_checkpoint("market", checkpoint)

    status = service.reader.get("/pipelines/market").json()["account_status"]
    assert status["counts"] == {"ready": 1, "backfilling": 1, "error": 1, "deauthorized": 0}
    assert status["healthy"] == 2
    assert status["accounts"]["acct_c"] == {
        "status": "error", "cause": "HTTP 400", "failure_kind": "invalid_request"
    }  # fmt: skip
    listed = service.reader.get("/pipelines").json()["data"]
    assert "account_status" not in listed[0]  # a list of a thousand pipelines stays small
