"""``/pipelines`` over HTTP: the store's rules, its masking and its errors, as the API answers them."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform_tests.plugins.pipelines import DB_PASSWORD, STRIPE_KEY, WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.service.conftest import (
    NULL_DESTINATION,
    SECRETIVE_SOURCE,
    RunningService,
    assert_no_secret,
    rows_destination,
)

STRIPE_SOURCE = {"type": "stripe", "stripe": {"api_key": {"env": "STRIPE_API_KEY"}}}


def create(
    service: RunningService, pipeline_id: str = "shop", *, skip_check: bool = False, **body: Any
) -> dict[str, Any]:
    document = {"id": pipeline_id, "source": SECRETIVE_SOURCE, "destination": NULL_DESTINATION, **body}
    response = service.admin.post("/pipelines", json=document, params={"skip_check": skip_check})
    assert response.status_code == 201, response.text
    return dict(response.json())


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert {"type", "message"} <= set(body["error"])
    return dict(body["error"])


def ids(service: RunningService, **params: Any) -> list[str]:
    return [p["id"] for p in service.admin.get("/pipelines", params=params).json()["data"]]


def test_create_stores_the_pipeline_masked_and_checked(service: RunningService) -> None:
    created = create(service)

    assert created["display_status"] == "setting_up"
    assert created["source"]["secretive"]["api_key"] == {"env": "STRIPE_API_KEY"}
    assert created["checks"] == [
        {"side": "source", "connector": "secretive", "status": "succeeded", "message": None},
        {"side": "destination", "connector": "null", "status": "succeeded", "message": None},
    ]
    got = service.admin.get("/pipelines/shop")
    assert got.headers["etag"] == '"1"'
    assert got.json()["pending_webhook_events"] == 0
    assert ids(service) == ["shop"]


def test_plaintext_secrets_are_stored_encrypted_and_never_answered(service: RunningService) -> None:
    source = {
        "type": "secretive",
        "secretive": {
            "api_key": STRIPE_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "credentials": {"user": "app", "password": DB_PASSWORD},
        },
    }
    created = create(service, source=source)
    config = created["source"]["secretive"]
    assert config["api_key"] == config["webhook_secret"] == config["credentials"]["password"] == "***"

    # Sending a secret back masked keeps it: the pipeline still runs with the real key.
    kept = service.admin.patch("/pipelines/shop", json={"source": created["source"]})
    assert kept.status_code == 200, kept.text
    assert service.store.resolve_secrets(service.store.get("shop")).source.config["api_key"] == STRIPE_KEY
    for path in ("/pipelines", "/pipelines/shop", "/pipelines?include_state=true&include_deleted=true"):
        service.admin.get(path)
    assert_no_secret(service.transcript, (service.admin_token, service.read_token))


def test_list_leaves_checkpoints_out_unless_asked_and_shows_progress(service: RunningService) -> None:
    create(service)
    service.admin.post("/pipelines/shop/sync")

    [item] = service.admin.get("/pipelines").json()["data"]
    assert "sync_state" not in item
    assert item["progress"]["records"] == 5
    assert item["progress"]["last_sync_at"] is not None
    [full] = service.admin.get("/pipelines", params={"include_state": True}).json()["data"]
    assert full["sync_state"]["source"]["streams"]["customer"] == {"offset": 5}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"id": "Bad Id!"}, "id", "must be 3 to 64 characters: a lowercase letter"),
        ({"source": {"type": "secretive", "secretiv": {}}}, "source", "unexpected key(s) 'secretiv'"),
        ({"source": STRIPE_SOURCE, "streams": ["customr"]}, "streams", "Did you mean 'customer'?"),
        ({"streams": []}, "streams", "empty list"),
        (
            {"source": {"type": "secretive", "secretive": {"api_key": "not-a-key"}}},
            "source.secretive.api_key",
            "pattern",
        ),
        ({"destination": {"type": "nowhere"}}, "destination.type", "Unknown destination connector 'nowhere'"),
    ],
)
def test_a_refused_pipeline_names_its_field_and_stores_nothing(
    service: RunningService, body: dict[str, Any], field: str | None, words: str
) -> None:
    document = {"id": "shop", "source": SECRETIVE_SOURCE, "destination": NULL_DESTINATION, **body}

    error = error_of(service.admin.post("/pipelines", json=document), 400)

    assert error.get("field") == field
    assert words in error["message"]
    assert ids(service, include_deleted=True) == []


def test_a_destination_config_error_names_the_destination_field(
    service: RunningService, pg: PgTestDatabase
) -> None:
    destination = {"type": "postgres", "postgres": {"url": {"env": "DEST_DATABASE_URL"}, "schema": "s" * 70}}
    error = error_of(
        service.admin.post("/pipelines", json={"source": SECRETIVE_SOURCE, "destination": destination}), 400
    )

    assert error["field"] == "destination.postgres.schema"
    assert error["message"] == (
        "Invalid postgres destination config at 'schema': must be at most 63 bytes and contain no NUL "
        "character."
    )


def test_a_failed_connection_check_is_422_and_stores_nothing(service: RunningService) -> None:
    source = {"type": "rejecting", "rejecting": {"api_key": STRIPE_KEY}}
    error = error_of(
        service.admin.post("/pipelines", json={"source": source, "destination": NULL_DESTINATION}), 422
    )

    assert error["type"] == "ConnectorCheckError"
    assert error["message"].startswith("Source check failed (rejecting):")
    assert STRIPE_KEY not in error["message"]
    assert ids(service) == []
    skipped = service.admin.post(
        "/pipelines", params={"skip_check": True}, json={"source": source, "destination": NULL_DESTINATION}
    )
    assert skipped.status_code == 201
    assert skipped.json()["checks"] == []


def test_a_taken_id_is_a_conflict(service: RunningService) -> None:
    create(service)
    error = error_of(
        service.admin.post(
            "/pipelines", json={"id": "shop", "source": SECRETIVE_SOURCE, "destination": NULL_DESTINATION}
        ),
        409,
    )
    assert error["type"] == "PipelineExistsError"


def test_patch_changes_desired_status_and_deleted_is_terminal(service: RunningService) -> None:
    create(service)

    paused = service.admin.patch("/pipelines/shop", json={"desired_status": "paused"}).json()
    assert (paused["desired_status"], paused["display_status"]) == ("paused", "pausing")
    resumed = service.admin.patch("/pipelines/shop", json={"desired_status": "active"}).json()
    assert resumed["desired_status"] == "active"
    deleted = service.admin.delete("/pipelines/shop").json()
    assert deleted["display_status"] == "tearing_down"

    for change in ({"desired_status": "active"}, {"desired_status": "paused"}, {"streams": ["customer"]}):
        error = error_of(service.admin.patch("/pipelines/shop", json=change), 409)
        assert error["type"] == "TransitionError"
        assert "deleted is terminal" in error["message"]
    assert service.admin.delete("/pipelines/shop").status_code == 200  # deleting again: a no-op
    assert ids(service) == []
    assert ids(service, include_deleted=True) == ["shop"]


def test_if_match_makes_a_change_conditional(service: RunningService) -> None:
    create(service)
    version = service.admin.get("/pipelines/shop").headers["etag"]
    service.admin.patch("/pipelines/shop", json={"desired_status": "paused"})  # someone else's change

    stale = error_of(
        service.admin.patch("/pipelines/shop", json={"streams": ["customer"]}, headers={"If-Match": version}),
        412,
    )
    assert stale["type"] == "PreconditionFailedError"
    assert "you had version 1, it is now 2" in stale["message"]
    assert service.admin.get("/pipelines/shop").json()["streams"] is None  # left as it was
    current = service.admin.get("/pipelines/shop").headers["etag"]
    fresh = service.admin.patch(
        "/pipelines/shop", json={"streams": ["customer"]}, headers={"If-Match": current}
    )
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"3"'
    assert error_of(service.admin.delete("/pipelines/shop", headers={"If-Match": '"1"'}), 412)
    assert (
        error_of(service.admin.patch("/pipelines/shop", json={}, headers={"If-Match": "yesterday"}), 400)[
            "field"
        ]
        == "If-Match"
    )


def test_a_patch_that_is_refused_leaves_the_pipeline_as_it_was(service: RunningService) -> None:
    create(service, source=STRIPE_SOURCE, streams=["customer"], skip_check=True)  # no Stripe to reach
    error = error_of(service.admin.patch("/pipelines/shop", json={"streams": ["nope"]}), 400)
    assert error["field"] == "streams"
    got = service.admin.get("/pipelines/shop").json()
    assert (got["streams"], got["version"]) == ([{"name": "customer", "backfill_limit": None}], 1)


def test_force_delete_forgets_the_pipeline_and_lists_what_may_be_left(
    service: RunningService, pg: PgTestDatabase
) -> None:
    create(service, destination=rows_destination(pg, "rows_shop"))
    answer = service.admin.delete("/pipelines/shop", params={"force": True}).json()

    assert answer == {
        "id": "shop",
        "purged": True,
        "may_be_left_behind": ["whatever the rows destination created"],
    }
    assert error_of(service.admin.get("/pipelines/shop"), 404)["type"] == "PipelineNotFoundError"


def test_unknown_pipelines_and_routes_are_404s_in_the_error_format(service: RunningService) -> None:
    for method, path in (
        ("GET", "/pipelines/nope"),
        ("PATCH", "/pipelines/nope"),
        ("DELETE", "/pipelines/nope"),
        ("POST", "/pipelines/nope/sync_batch"),
        ("POST", "/pipelines/nope/check"),
        ("GET", "/pipelines/nope/runs"),
        ("GET", "/no/such/route"),
    ):
        body = {} if method == "PATCH" else None
        error = error_of(service.admin.request(method, path, json=body), 404)
        assert error["type"] in ("PipelineNotFoundError", "RouteNotFoundError")
    assert error_of(service.admin.put("/pipelines"), 405)["type"] == "MethodNotAllowedError"
