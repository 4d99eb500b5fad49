"""The code location loads, and every asset spec is pinned by a reviewed snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from syrupy.assertion import SnapshotAssertion

from sync_platform.defs.definitions import build_definitions
from sync_platform.defs.families import FAMILIES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions()


def spec_summary(spec: dg.AssetSpec) -> dict[str, Any]:
    """The parts of a spec users see in the UI; unstable values (descriptions' wording) left out."""
    columns = spec.metadata["dagster/column_schema"].columns
    return {
        "key": spec.key.to_user_string(),
        "group": spec.group_name,
        "kinds": sorted(spec.kinds),
        "owners": list(spec.owners),
        "tags": dict(spec.tags),
        "metadata": sorted(spec.metadata),
        "primary_key": spec.metadata["stripe/primary_key"].value,
        "first_columns": [column.name for column in columns[:3]],
        "column_count": len(columns),
        "partitions": spec.partitions_def.name if spec.partitions_def else None,
    }


def test_the_code_location_loads_and_validates(definitions: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(definitions)
    assert {s.name for s in definitions.sensors} == {
        "pipeline_lifecycle_sensor",
        "webhook_inbox_sensor",
        "events_poll_sensor",
        "pipeline_run_failure_sensor",
    }
    assert {s.name for s in definitions.schedules} == {
        "reconcile_schedule",
        "stripe_sheets_reconcile_schedule",
        "checkpoint_freshness_schedule",
    }


def test_each_family_has_one_asset_per_stripe_stream_with_its_own_partitions(
    definitions: dg.Definitions,
) -> None:
    keys = definitions.resolve_all_asset_keys()
    for family in FAMILIES:
        family_keys = [key for key in keys if key.path[0] == family.key_prefix]
        assert len(family_keys) >= 50
    assert dg.AssetKey(["stripe", "customer"]) in keys
    assert dg.AssetKey(["stripe_sheets", "invoice"]) in keys


def test_asset_keys_match_snapshot(definitions: dg.Definitions, snapshot: SnapshotAssertion) -> None:
    """Keys are asset identity in the Dagster UI, so every change must show up as a reviewed diff."""
    keys = sorted(key.to_user_string() for key in definitions.resolve_all_asset_keys())
    assert keys == snapshot(name="keys")


def test_asset_specs_match_snapshot(definitions: dg.Definitions, snapshot: SnapshotAssertion) -> None:
    specs = sorted(
        (spec for assets in definitions.assets or [] for spec in assets.specs),  # type: ignore[union-attr]
        key=lambda spec: spec.key.to_user_string(),
    )
    assert [spec_summary(spec) for spec in specs] == snapshot(name="specs")


@pytest.mark.slow
def test_dagster_definitions_validate_passes_on_the_workspace(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [Path(sys.executable).with_name("dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout
