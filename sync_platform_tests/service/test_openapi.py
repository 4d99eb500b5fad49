"""The OpenAPI document: committed as docs/openapi.json, derived from the routes and models."""

from __future__ import annotations

import json
from pathlib import Path

from sync_platform.service import openapi_document
from sync_platform_tests.service.conftest import RunningService

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_docs_openapi_json_is_the_services_document() -> None:
    """A change to the API must show up as a reviewed diff of the committed document."""
    assert json.loads(COMMITTED.read_text()) == openapi_document(), (
        "docs/openapi.json is out of date: run `.venv/bin/python -m sync_platform.service "
        "docs/openapi.json` and review the diff."
    )


def test_every_operation_is_documented_with_an_id_and_its_errors() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    operations = {
        (method.upper(), path): op for path, ops in document["paths"].items() for method, op in ops.items()
    }
    assert {op["operationId"] for op in operations.values()} >= {
        "pipelines.list", "pipelines.create", "pipelines.get", "pipelines.update", "pipelines.delete",
        "pipelines.sync", "pipelines.sync_batch", "pipelines.check", "pipelines.setup", "pipelines.teardown",
        "pipelines.runs", "streams.list", "connectors.list", "health", "webhooks.push",
    }  # fmt: skip
    for (method, path), operation in operations.items():
        public = path in ("/health", "/webhooks/{pipeline_id}")
        assert ("security" in operation) is not public, (method, path)
        if not public:
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }
    connector = document["components"]["schemas"]["ConnectorConfig"]
    assert connector["required"] == ["type"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_service_serves_its_document_to_a_token_holder(service: RunningService) -> None:
    assert service.reader.get("/openapi.json").json() == openapi_document()
    assert service.client().get("/openapi.json").status_code == 401
