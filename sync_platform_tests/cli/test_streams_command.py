"""``sync-platform streams``: every stream a source offers, for people (a table) and machines (JSON)."""

from __future__ import annotations

import json

from sync_platform.cli import EXIT_BAD_INPUT
from sync_platform.sources.stripe import stripe_catalog
from sync_platform_tests.cli.conftest import CliInvoker


def row_of(table: str, stream: str) -> str:
    """The table line that starts ``stream``'s row (a long description wraps onto more lines)."""
    [row] = [line for line in table.splitlines() if line.startswith(f"│ {stream} ")]
    return row


def test_streams_lists_every_stripe_stream_with_a_description(cli: CliInvoker) -> None:
    table = cli.ok("streams").stdout

    catalog = stripe_catalog()
    assert f"Streams of source 'stripe' ({len(catalog)})" in table
    assert "This object represents a" in row_of(table, "customer")
    assert "Invoices are statements" in row_of(table, "invoice")
    assert all(row_of(table, definition.name) for definition in catalog)


def test_streams_json_is_one_entry_per_stream_of_the_catalog(cli: CliInvoker) -> None:
    streams = json.loads(cli.ok("streams", "--source", "stripe", "--json").stdout)

    assert [stream["name"] for stream in streams] == [d.name for d in stripe_catalog()]
    by_name = {stream["name"]: stream for stream in streams}
    customer = by_name["customer"]
    assert customer["description"] == "This object represents a customer of your business."
    assert customer["primary_key"] == ["id", "_account_id"]
    assert "customer.deleted" in customer["metadata"]["event_types"]
    assert all(stream["description"] and "\n" not in stream["description"] for stream in streams)
    assert all("](" not in stream["description"] for stream in streams)  # markdown links unwrapped


def test_a_source_that_knows_its_streams_only_from_a_config_is_refused_with_the_ones_that_can(
    cli: CliInvoker,
) -> None:
    result = cli("streams", "--source", "fixture")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "source 'fixture' knows its streams only from a pipeline's config" in result.stderr
    assert "Sources that list theirs here: stripe." in result.stderr


def test_an_unknown_source_suggests_the_closest(cli: CliInvoker) -> None:
    result = cli("streams", "--source", "strpe")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "Unknown source connector 'strpe'. Did you mean 'stripe'?" in result.stderr
