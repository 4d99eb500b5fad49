"""The console's pages without a browser: signing in, what a read-only token sees, the forms."""

from __future__ import annotations

from sync_platform.service.console.forms import form_fields
from sync_platform_tests.plugins.pipelines import STRIPE_KEY, SecretiveSourceConfig
from sync_platform_tests.service.conftest import NULL_DESTINATION, RunningService, assert_no_secret


def test_pages_send_anyone_without_a_token_to_sign_in(service: RunningService) -> None:
    anonymous = service.client(follow_redirects=False)
    for path in ("/", "/console/new", "/console/pipelines/shop", "/console/fragments/pipelines"):
        answer = anonymous.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/console/login?next={path}"


def test_signing_in_trades_a_token_for_an_http_only_cookie(service: RunningService) -> None:
    browser = service.client(follow_redirects=False)
    refused = browser.post("/console/login", data={"token": "spt_nope", "next": "/"})
    assert refused.status_code == 401
    assert "The API token is not valid" in refused.text

    signed_in = browser.post("/console/login", data={"token": service.read_token, "next": "//evil.example/"})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/"  # never sent to another site
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    page = browser.get("/")
    assert page.status_code == 200
    assert "reader · read" in page.text
    assert "New pipeline" not in page.text  # a read-only token gets no actions
    assert browser.post("/console/logout").headers["location"] == "/console/login"


def test_a_pipeline_page_shows_it_masked_and_an_unknown_one_is_a_404_page(service: RunningService) -> None:
    source = {"type": "secretive", "secretive": {"api_key": STRIPE_KEY}}
    assert service.admin.post(
        "/pipelines", json={"id": "shop", "source": source, "destination": NULL_DESTINATION}
    )
    browser = service.client(cookies={"sync_platform_token": service.admin_token})

    page = browser.get("/console/pipelines/shop")
    assert page.status_code == 200
    assert "setting_up" in page.text
    assert "/webhooks/shop" in page.text
    edit = browser.get("/console/pipelines/shop/edit")
    assert 'data-field="source.secretive.api_key"' in edit.text
    assert "stored: leave empty to keep" in edit.text
    missing = browser.get("/console/pipelines/nope")
    assert missing.status_code == 404
    assert "Pipeline &#39;nope&#39; not found" in missing.text
    assert_no_secret([page.text, edit.text, browser.get("/").text], (service.admin_token,))


def test_form_fields_follow_the_connector_schema() -> None:
    schema = SecretiveSourceConfig.model_json_schema()
    fields = {
        field.path: field for field in form_fields(schema, {"api_key": {"env": "KEY"}, "poll_events": True})
    }

    assert fields["api_key"].kind == "secret"
    assert fields["api_key"].required
    assert fields["api_key"].env_name == "KEY"
    assert fields["webhook_secret"].kind == "secret"  # a secret, or a list of them during rotation
    assert fields["poll_events"].kind == "boolean"
    assert fields["poll_events"].checked
    assert fields["streams"].kind == "json"
    assert fields["state_every"].kind == "integer"
    assert fields["credentials.user"].kind == "text"  # a nested model becomes its own fields
    assert fields["credentials.password"].kind == "secret"
    assert fields["state_every"].advanced
    assert not fields["webhook_url"].advanced
