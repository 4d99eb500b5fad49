"""What a client needs besides pipelines: the streams a source offers, the installed connectors and
their config schemas (the console builds its forms from them), and an unauthenticated health check."""

from __future__ import annotations

import socket
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from sync_platform.engine import offline_catalog
from sync_platform.errors import ConfigError
from sync_platform.pipelines.stream_listing import stream_json
from sync_platform.service.auth import Principal, authenticate, services_of
from sync_platform.service.json_response import JsonResponse
from sync_platform.service.schemas import ERRORS, ConnectorList, Health, StreamList
from sync_platform.service.stream_groups import stream_group

router = APIRouter(tags=["catalog"], responses=ERRORS)


def package_version() -> str:
    try:
        return version("sync-platform")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0"


def stream_list(request: Request, source: str) -> list[dict[str, Any]]:
    """The source's streams as ``GET /streams`` lists them, each with its group."""
    registry = services_of(request).engine.registry
    catalog = offline_catalog(registry.source(source))
    if catalog is None:
        listing = [name for name in registry.names("source") if offline_catalog(registry.source(name))]
        raise ConfigError(
            f"source {source!r} knows its streams only from a pipeline's config, when it runs. "
            f"Sources that list theirs here: {', '.join(listing) or '(none)'}.",
            field="source",
        )
    return [{**stream_json(s), "group": stream_group(s.name, s.metadata)} for s in catalog.streams]


@router.get("/streams", response_model=StreamList, operation_id="streams.list")
def streams(
    request: Request,
    _: Annotated[Principal, Depends(authenticate)],
    source: Annotated[str, Query(description="The source connector.")] = "stripe",
) -> Response:
    """The streams a source offers (its offline catalog: the names `streams` is checked against)."""
    return JsonResponse({"source": source, "data": stream_list(request, source)})


@router.get("/connectors", response_model=ConnectorList, operation_id="connectors.list")
def connectors(request: Request, _: Annotated[Principal, Depends(authenticate)]) -> Response:
    """The installed sources and destinations, with the JSON schema each one's config must match."""
    configs = services_of(request).store.configs
    registry = configs.registry
    sources = [
        {
            "name": name,
            "config_schema": configs.schema("source", name),
            "lists_streams": offline_catalog(registry.source(name)) is not None,
        }
        for name in registry.names("source")
    ]
    destinations = [
        {"name": name, "config_schema": configs.schema("destination", name)}
        for name in registry.names("destination")
    ]
    return JsonResponse({"sources": sources, "destinations": destinations})


@router.get("/health", response_model=Health, operation_id="health", tags=["service"])
def health(request: Request) -> Response:
    """Unauthenticated: the service is up (it does not touch the database)."""
    counts = getattr(request.app.state, "receiver_counts", None)
    webhooks = dict(vars(counts)) if counts is not None else {}
    return JsonResponse(
        {"ok": True, "hostname": socket.gethostname(), "version": package_version(), "webhooks": webhooks}
    )
