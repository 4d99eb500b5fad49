"""The Stripe catalog is read from the installed SDK: the streams, their capabilities and schemas."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import stripe
from syrupy.assertion import SnapshotAssertion

from sync_platform.protocol import CatalogPayload
from sync_platform.sources.stripe import (
    API_VERSION,
    UnknownStripeStreamError,
    catalog_index,
    catalog_payload,
    sdk_release,
    stream_by_name,
    stream_for_object,
    stripe_catalog,
)
from sync_platform.sources.stripe.catalog import build_catalog
from sync_platform.sources.stripe.sdk_fields import is_timestamp
from sync_platform.sources.stripe.sdk_source import docstrings_by_class


def test_catalog_offers_at_least_fifty_streams_with_unique_names() -> None:
    names = [definition.name for definition in stripe_catalog()]
    assert len(names) >= 50
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("name", "list_path", "created"),
    [
        ("customer", "/v1/customers", True),
        ("invoice", "/v1/invoices", True),
        ("charge", "/v1/charges", True),
        ("subscription", "/v1/subscriptions", True),
        ("checkout_session", "/v1/checkout/sessions", True),
        ("early_fraud_warning", "/v1/radar/early_fraud_warnings", True),
        ("billing_portal_configuration", "/v1/billing_portal/configurations", False),
        ("invoiceitem", "/v1/invoiceitems", True),
        ("payment_method", "/v1/payment_methods", False),
        ("quote", "/v1/quotes", False),
        ("tax_id", "/v1/tax_ids", False),
        ("product", "/v1/products", True),
    ],
)
def test_known_streams_have_their_list_path_and_created_filter_capability(
    name: str, list_path: str, created: bool
) -> None:
    definition = stream_by_name(name)
    assert definition.list_path == list_path
    assert definition.supports_created_filter is created


def test_lists_that_need_a_parent_id_or_have_no_events_are_not_streams() -> None:
    names = {definition.name for definition in stripe_catalog()}
    assert "subscription_item" not in names  # /v1/subscription_items requires `subscription`
    assert "balance_transaction" not in names  # listable, but no webhook event reports its changes
    assert "webhook_endpoint" not in names
    assert not any(name.startswith("v2_") for name in names)


def test_report_types_list_has_no_pagination() -> None:
    assert stream_by_name("reporting_report_type").supports_pagination is False
    assert stream_by_name("customer").supports_pagination is True


def test_event_types_follow_their_object_through_aliases() -> None:
    assert "customer.subscription.updated" in stream_by_name("subscription").event_types
    assert "charge.dispute.created" in stream_by_name("dispute").event_types
    assert "checkout.session.completed" in stream_by_name("checkout_session").event_types
    assert "customer.tax_id.deleted" in stream_by_name("tax_id").event_types
    assert "radar.early_fraud_warning.created" in stream_by_name("early_fraud_warning").event_types
    assert "issuing_authorization.created" in stream_by_name("issuing_authorization").event_types
    # application_fee.refund.* carries a fee_refund, not a refund
    assert not any(t.startswith("application_fee.") for t in stream_by_name("refund").event_types)
    assert "charge.refund.updated" in stream_by_name("refund").event_types


def test_deletion_events_are_those_of_objects_that_can_be_deleted() -> None:
    assert stream_by_name("customer").deletion_event_types == ("customer.deleted",)
    assert stream_by_name("tax_id").deletion_event_types == ("customer.tax_id.deleted",)
    assert stream_by_name("invoiceitem").deletion_event_types == ("invoiceitem.deleted",)
    # a "deleted" subscription is canceled, and still exists
    assert stream_by_name("subscription").deletion_event_types == ()


def test_stream_for_object_maps_event_payload_objects_to_streams() -> None:
    assert stream_for_object("checkout.session") is stream_by_name("checkout_session")
    assert stream_for_object("radar.early_fraud_warning") is stream_by_name("early_fraud_warning")
    assert stream_for_object("line_item") is None


def test_unknown_stream_error_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownStripeStreamError, match=r"'custmer'.*Did you mean 'customer'\?"):
        stream_by_name("custmer")


@pytest.mark.parametrize(
    ("stream", "field", "list_path", "parent_param"),
    [
        ("invoice", "lines", "/v1/invoices/{id}/lines", None),
        ("subscription", "items", "/v1/subscription_items", "subscription"),
        ("charge", "refunds", "/v1/refunds", "charge"),
        ("checkout_session", "line_items", "/v1/checkout/sessions/{id}/line_items", None),
    ],
)
def test_nested_lists_know_where_their_further_pages_are(
    stream: str, field: str, list_path: str, parent_param: str | None
) -> None:
    nested = stream_by_name(stream).nested_list(field)
    assert nested is not None
    assert (nested.list_path, nested.parent_param) == (list_path, parent_param)


def test_nested_list_request_for_a_parent() -> None:
    lines = stream_by_name("invoice").nested_list("lines")
    items = stream_by_name("subscription").nested_list("items")
    assert lines is not None
    assert items is not None
    assert lines.request_for("in_1") == ("/v1/invoices/in_1/lines", {})
    assert items.request_for("sub_1") == ("/v1/subscription_items", {"subscription": "sub_1"})


def test_schemas_follow_the_json_schema_conventions() -> None:
    customer = stream_by_name("customer").json_schema["properties"]
    invoice = stream_by_name("invoice").json_schema["properties"]
    assert customer["created"]["type"] == "integer"
    assert customer["created"]["format"] == "unix-time"
    assert customer["email"]["type"] == ["string", "null"]
    assert customer["metadata"]["type"] == ["object", "null"]
    assert customer["preferred_locales"]["items"] == {"type": "string"}
    assert customer["tax_exempt"]["enum"] == ["exempt", "none", "reverse", None]
    assert "Time at which" in customer["created"]["description"]
    assert invoice["customer"]["x-expandable-reference"] is True
    assert invoice["lines"] == {**invoice["lines"], "type": "object", "x-stripe-list": True}
    assert invoice["period_end"]["format"] == "unix-time"
    assert "format" not in invoice["total"]
    assert "deleted" not in customer  # the engine strips it; tombstones travel as recordDeleted


def test_every_schema_has_the_platform_fields_and_only_convention_types() -> None:
    allowed = {"string", "integer", "number", "boolean", "object", "array", "null"}
    for definition in stripe_catalog():
        schema = definition.json_schema
        assert schema["required"] == ["id", "_account_id", "_updated_at"], definition.name
        assert schema["properties"]["_updated_at"]["format"] == "unix-time"
        for name, prop in schema["properties"].items():
            types = prop.get("type", [])
            types = types if isinstance(types, list) else [types]
            assert set(types) <= allowed, (definition.name, name, types)
            assert "anyOf" not in prop
            assert "oneOf" not in prop


@pytest.mark.parametrize(
    ("name", "doc", "expected"),
    [
        ("created", "Time at which the object was created.", True),
        ("arrival_date", "Date that you can expect the payout to arrive", True),
        ("due_by", "Date by which evidence must be submitted", True),
        ("last_seen_at", "Timestamp is measured in milliseconds since the Unix epoch.", False),
        ("amount_due", "Final amount due at this time for this invoice.", False),
        ("trial_period_days", "Default number of trial days", False),
    ],
)
def test_timestamp_detection(name: str, doc: str, expected: bool) -> None:
    assert is_timestamp(name, doc) is expected


def test_catalog_payload_stamps_account_ids_and_platform_fields() -> None:
    payload = catalog_payload(["acct_b", "acct_a"])
    assert isinstance(payload, CatalogPayload)
    stream = next(s for s in payload.streams if s.name == "customer")
    assert stream.primary_key == [["id"], ["_account_id"]]
    assert stream.newer_than_field == "_updated_at"
    assert stream.json_schema is not None
    assert stream.json_schema["properties"]["_account_id"] == {
        **stream.json_schema["properties"]["_account_id"],
        "type": "string",
        "enum": ["acct_a", "acct_b"],
    }
    assert stream.metadata is not None
    assert stream.metadata["list_path"] == "/v1/customers"
    assert stream.metadata["object_name"] == "customer"
    assert stream.metadata["api_version"] == API_VERSION
    assert "customer.deleted" in stream.metadata["deletion_event_types"]
    # the cached definitions are not changed by stamping
    assert "enum" not in stream_by_name("customer").json_schema["properties"]["_account_id"]


def test_the_streams_of_a_catalog_share_one_list_of_admitted_accounts() -> None:
    """A Connect platform's catalog admits every account in every stream's ``_account_id``: one
    sorted list for all of them, not one per stream (~80 KB a stream at 10,000 accounts)."""
    payload = catalog_payload(["acct_b", "acct_a", "acct_b"], ["customer", "charge", "invoice"])
    admitted = [stream.json_schema["properties"]["_account_id"]["enum"] for stream in payload.streams]
    assert admitted[0] == ["acct_a", "acct_b"]
    assert all(enum is admitted[0] for enum in admitted)


def test_catalog_payload_can_be_limited_to_named_streams() -> None:
    assert catalog_payload(["acct_1"], ["invoice", "customer"]).stream_names() == ["invoice", "customer"]


def _ast_docstrings(module_name: str) -> dict[str, dict[str, str]]:
    """The oracle for the line scanner: the same docstrings, read with ``ast``."""
    tree = ast.parse(inspect.getsource(__import__(module_name, fromlist=["_"])))
    found: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                docs = {}
                for first, second in zip(node.body, node.body[1:], strict=False):
                    if (
                        isinstance(first, ast.AnnAssign)
                        and isinstance(first.target, ast.Name)
                        and isinstance(second, ast.Expr)
                        and isinstance(second.value, ast.Constant)
                        and isinstance(second.value.value, str)
                    ):
                        docs[first.target.id] = inspect.cleandoc(second.value.value)
                found[prefix + node.name] = docs
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return found


def test_docstring_scanner_agrees_with_ast_on_every_catalog_module() -> None:
    modules = {d.sdk_class.__module__ for d in stripe_catalog() if d.sdk_class is not None}
    for module_name in sorted(modules):
        assert docstrings_by_class(module_name) == _ast_docstrings(module_name), module_name


def test_catalog_snapshot(snapshot: SnapshotAssertion) -> None:
    """A stripe upgrade that adds, drops or changes a stream must show up as a reviewed diff."""
    summary = [
        {
            "name": d.name,
            "object": d.object_name,
            "list_path": d.list_path,
            "created_filter": d.supports_created_filter,
            "pagination": d.supports_pagination,
            "deletions": list(d.deletion_event_types),
            "nested_lists": [n.field for n in d.nested_lists],
        }
        for d in stripe_catalog()
    ]
    assert summary == snapshot


def test_lists_that_leave_final_statuses_out_are_asked_for_all_of_them() -> None:
    """Stripe omits canceled subscriptions without `status=all`; the SDK says which lists offer it."""
    assert stream_by_name("subscription").list_defaults == {"status": "all"}
    assert stream_by_name("topup").list_defaults == {}  # its statuses have no "all"
    assert stream_by_name("subscription").metadata()["list_defaults"] == {"status": "all"}


def test_the_committed_catalog_index_is_what_the_installed_sdk_gives() -> None:
    """Commands read the catalog from ``catalog_index.json``; it must say exactly what the SDK says."""
    built = catalog_index.render(build_catalog(), stripe.VERSION, stripe.api_version)
    assert built == catalog_index.INDEX_PATH.read_text(encoding="utf-8"), (
        f"sync_platform/sources/stripe/catalog_index.json is stale: run `{catalog_index.REGENERATE}` "
        "and commit the result"
    )


def test_an_index_built_from_another_sdk_version_is_not_used(tmp_path: Path) -> None:
    index = tmp_path / "catalog_index.json"
    index.write_text(catalog_index.render(build_catalog(), "0.0.1", "2000-01-01"), encoding="utf-8")
    assert catalog_index.load("0.0.1", index) == build_catalog()
    assert catalog_index.load(stripe.VERSION, index) is None
    assert catalog_index.load(stripe.VERSION, tmp_path / "missing.json") is None


def test_the_sdk_release_and_api_version_read_without_the_sdk_are_the_sdks() -> None:
    """A sync reads both without importing ``stripe``: from its package metadata and the index."""
    assert sdk_release.installed_version() == stripe.VERSION
    assert API_VERSION == sdk_release.api_version() == stripe.api_version


def test_the_api_version_comes_from_the_sdk_when_the_index_is_another_releases(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    ours.write_text(catalog_index.render((), stripe.VERSION, "2000-01-01.recorded"), encoding="utf-8")
    theirs.write_text(catalog_index.render((), "0.0.1", "2000-01-01.recorded"), encoding="utf-8")
    assert sdk_release.api_version(ours) == "2000-01-01.recorded"
    assert sdk_release.api_version(theirs) == stripe.api_version
    assert sdk_release.api_version(tmp_path / "missing.json") == stripe.api_version


def test_a_stream_read_from_the_index_finds_its_sdk_class_and_fields_on_first_use() -> None:
    (customer,) = [d for d in catalog_index.load(stripe.VERSION) or () if d.name == "customer"]
    assert "sdk_class" not in customer.__dict__  # nothing imported until asked
    assert customer.sdk_class is stripe.Customer
    assert {"email", "created", "metadata"} <= {f.name for f in customer.fields}
    assert customer.has_created_field
    assert customer.supports_created_filter
