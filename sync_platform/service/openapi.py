"""The service's OpenAPI 3.1 document, derived from its routes and pydantic models.

Pydantic sees ``ConnectorConfig`` as ``{type, config}``, but its validator and serializer use the
wire shape ``{"type": "stripe", "stripe": {...}}``, which the models cannot express; the document
states that shape instead. Each connector's config schema is served at runtime by
``GET /connectors`` rather than written into the document, so upgrading a connector (the stripe
SDK pins the API version into a default) does not change the API's contract.

``docs/openapi.json`` is this document, committed; a test fails when it drifts. Regenerate it with
``python -m sync_platform.service docs/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

TITLE = "sync_platform"
DESCRIPTION = """\
Pipelines that keep Stripe data in sync in PostgreSQL and Google Sheets: create and change them,
run their lanes through the pipeline runner (the code Dagster and the CLI run), read their runs.

Every endpoint but `/health` and `/webhooks/{pipeline_id}` needs `Authorization: Bearer <token>`
(`sync-platform tokens create --name NAME [--scope read|admin]`); `read` tokens may only GET.
Errors are `{"error": {"type", "message", "field"?}}`. Secrets are never returned: configs come
back masked (`***`, or `{"env": NAME}` for a secret read from the environment). See docs/api.md.
"""

CONNECTOR_ENVELOPE: dict[str, Any] = {
    "title": "ConnectorConfig",
    "type": "object",
    "description": (
        'A connector and its config, keyed by the connector\'s name: `{"type": "stripe", "stripe": '
        "{...}}`. The config must match the connector's JSON schema (`GET /connectors`); a secret "
        'field takes the plaintext (stored encrypted), `{"env": "NAME"}` (read where the pipeline '
        "runs), or, on update, `***` to keep the stored secret."
    ),
    "required": ["type"],
    "properties": {"type": {"type": "string", "minLength": 1, "description": "The connector's name."}},
    "additionalProperties": {"type": "object", "description": "The config, under the connector's name."},
    "examples": [{"type": "stripe", "stripe": {"api_key": {"env": "STRIPE_API_KEY"}}}],
}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=TITLE,
        version=app.version,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
    )
    schemas = document.get("components", {}).get("schemas", {})
    _drop_fastapi_validation_answers(document, schemas)
    _streams_answer_only_ndjson(document)
    for name in list(schemas):
        if name == "ConnectorConfig" or name.startswith("ConnectorConfig-"):
            schemas[name] = dict(CONNECTOR_ENVELOPE)
    return document


def _drop_fastapi_validation_answers(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Bad input is answered 400 with the API's own error body (``ErrorBody``), not FastAPI's 422."""
    default = "#/components/schemas/HTTPValidationError"
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422", {})
            if default in str(answer.get("content", {})):
                del operation["responses"]["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        if default not in str(document.get("paths")):
            schemas.pop(name, None)


def _streams_answer_only_ndjson(document: dict[str, Any]) -> None:
    """A streamed run answers NDJSON (its errors, before the stream starts, are JSON as everywhere)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("200", {})
            content = answer.get("content", {})
            if "application/x-ndjson" in content:
                content.pop("application/json", None)


def openapi_document() -> dict[str, Any]:
    """The document of the service as built by ``create_service_app`` (no database needed)."""
    from sync_platform.service.app import create_service_app

    return create_service_app(None).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    text = render(openapi_document())
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)
