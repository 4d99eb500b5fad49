"""Connectors are found by name: built-ins, and third-party ones through entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sync_platform.engine import ConnectorRegistry, UnknownConnectorError, default_registry
from sync_platform.sources.fixture import FixtureSource


def test_built_in_connectors_are_registered_by_name() -> None:
    registry = default_registry()
    assert {"fixture", "stripe"} <= set(registry.names("source"))
    assert {"null", "echo", "buffer", "postgres", "google_sheets"} <= set(registry.names("destination"))
    assert isinstance(registry.source("fixture"), FixtureSource)


def test_an_unknown_connector_is_an_error_listing_the_installed_ones() -> None:
    with pytest.raises(UnknownConnectorError, match=r"Unknown destination connector 'postgress'.*'postgres'"):
        default_registry().destination("postgress")


def test_third_party_connectors_are_loaded_from_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "acme_connector.py"
    package.write_text(
        "from sync_platform.sources.fixture import FixtureSource\n"
        "class AcmeSource(FixtureSource):\n    pass\n"
    )
    dist = tmp_path / "acme_connector-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-connector\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sync_platform.sources]\nacme = acme_connector:AcmeSource\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = default_registry()
    assert "acme" in registry.names("source")
    assert type(registry.source("acme")).__name__ == "AcmeSource"
    sys.modules.pop("acme_connector", None)


def test_a_registry_can_be_built_from_factories() -> None:
    registry = ConnectorRegistry(sources={"mine": FixtureSource})
    assert isinstance(registry.source("mine"), FixtureSource)
