"""Every materialization says where its data is, and never with a secret in the hint."""

from __future__ import annotations

from typing import Any

from sync_platform.defs.locations import location_metadata
from sync_platform.protocol import ConnectorConfig


def test_a_postgres_stream_names_its_table_and_a_psql_command_without_the_password() -> None:
    destination = ConnectorConfig(
        type="postgres",
        config={"url": "postgresql://loader:s3cret-pw@db.example:5433/warehouse", "schema": "stripe"},
    )
    metadata = location_metadata(destination, "customer")
    assert metadata["dagster/table_name"] == "stripe.customer"
    assert metadata["sync/database"] == "warehouse on db.example:5433"
    assert metadata["sync/connect"] == 'psql "user=loader dbname=warehouse host=db.example port=5433"'
    assert "s3cret" not in repr(metadata)


def test_a_sheets_stream_names_its_spreadsheet_tab_and_url(sheets_config: dict[str, Any]) -> None:
    config = {**sheets_config, "spreadsheet_id": "sheet123", "spreadsheet_title": "Stripe shop"}
    metadata = location_metadata(ConnectorConfig(type="google_sheets", config=config), "invoice")
    assert metadata["dagster/table_name"] == "Stripe shop / invoice"
    assert metadata["sync/spreadsheet"].value == f"{sheets_config['api_base_url']}/spreadsheets/d/sheet123"
    assert "private_key" not in repr(metadata)
    real = {**config, "api_base_url": None}
    url = location_metadata(ConnectorConfig(type="google_sheets", config=real), "invoice")["sync/spreadsheet"]
    assert url.value == "https://docs.google.com/spreadsheets/d/sheet123"


def test_an_unknown_destination_has_no_location() -> None:
    assert location_metadata(ConnectorConfig(type="null", config={}), "customer") == {}
