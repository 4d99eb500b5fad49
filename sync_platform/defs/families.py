"""Destination families: one asset family (and one partitions set) per kind of destination.

Postgres pipelines and Google Sheets pipelines get separate asset keys (``stripe/<stream>`` and
``stripe_sheets/<stream>``) and separate dynamic partitions: if both families shared one partitions
set, every Postgres pipeline would show as a "missing" partition on the Sheets assets.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class DestinationFamily:
    """Everything that differs between the Postgres and the Sheets asset families."""

    destination_type: str  # the connector name pipelines use: "postgres", "google_sheets"
    key_prefix: str  # first asset-key segment: "stripe", "stripe_sheets"
    kind: str  # the Dagster kind badge: "postgres", "googlesheets"
    group_name: str
    storage_noun: str  # "table" / "tab", for descriptions

    @property
    def partitions_def(self) -> dg.DynamicPartitionsDefinition:
        return dg.DynamicPartitionsDefinition(name=f"{self.key_prefix}_pipelines")

    @property
    def assets_name(self) -> str:
        """The multi-asset (op) name, e.g. ``stripe_sync``."""
        return f"{self.key_prefix}_sync"

    @property
    def job_name(self) -> str:
        return f"{self.key_prefix}_sync_job"


POSTGRES = DestinationFamily(
    destination_type="postgres",
    key_prefix="stripe",
    kind="postgres",
    group_name="stripe_postgres",
    storage_noun="table",
)
GOOGLE_SHEETS = DestinationFamily(
    destination_type="google_sheets",
    key_prefix="stripe_sheets",
    kind="googlesheets",
    group_name="stripe_google_sheets",
    storage_noun="tab",
)
FAMILIES: tuple[DestinationFamily, ...] = (POSTGRES, GOOGLE_SHEETS)
