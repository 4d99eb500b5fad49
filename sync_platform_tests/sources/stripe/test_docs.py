"""The streams table in docs/sources/stripe.md is the installed SDK's catalog."""

from __future__ import annotations

from sync_platform.sources.stripe.catalog_docs import DOC, with_table


def test_the_documented_streams_table_matches_the_installed_sdk() -> None:
    document = DOC.read_text()
    assert with_table(document) == document, (
        "The streams table is stale: run `python -m sync_platform.sources.stripe.catalog_docs`."
    )
