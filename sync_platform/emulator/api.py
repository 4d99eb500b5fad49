"""The emulated ``/v1`` API: one handler that authenticates, injects faults and dispatches by path.

Routing is a dictionary lookup on the path (list paths of the catalog, their retrieve paths and
nested lists) rather than a list of regex routes, which keeps the work per request small: a
list page is parsed parameters, a few bisects and a join of cached bytes.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sync_platform.emulator.emulator import Emulator
from sync_platform.emulator.errors import (
    ApiError,
    EmulatorError,
    missing_parameter,
    unknown_parameter,
    unrecognized_url,
)
from sync_platform.emulator.event_log import parse_type_filters
from sync_platform.emulator.ids import request_id
from sync_platform.emulator.listing import parse_page_request
from sync_platform.emulator.objects import dumps
from sync_platform.emulator.params import decode_params
from sync_platform.emulator.request_log import LoggedRequest
from sync_platform.emulator.store import AccountData
from sync_platform.emulator.webhook_endpoints import (
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    retrieve_endpoint,
    update_endpoint,
)
from sync_platform.sources.stripe import API_VERSION, StripeStreamDefinition, stripe_catalog
from sync_platform.sources.stripe.sdk_endpoints import list_endpoints as sdk_list_endpoints
from sync_platform.sources.stripe.sdk_fields import FieldKind

JSON = "application/json"
PAGING_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand"})
EVENTS_PATH = "/v1/events"
ENDPOINTS_PATH = "/v1/webhook_endpoints"
ACCOUNT_PATH = "/v1/account"


class ApiRoutes:
    """Serves ``/v1/...`` for one emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        catalog = stripe_catalog()
        self.lists: dict[str, StripeStreamDefinition] = {d.list_path: d for d in catalog}
        self.nested_by_path: dict[tuple[str, str], tuple[StripeStreamDefinition, str]] = {}
        self.nested_by_query: dict[str, tuple[StripeStreamDefinition, str, str]] = {}
        for definition in catalog:
            for nested in definition.nested_lists:
                if nested.list_path is None:
                    continue
                if nested.parent_param is None:
                    head, tail = nested.list_path.split("/{id}/")
                    self.nested_by_path[(head, tail)] = (definition, nested.field)
                elif nested.list_path not in self.lists:
                    self.nested_by_query[nested.list_path] = (definition, nested.field, nested.parent_param)
        self.field_names = {d.name: frozenset(f.name for f in d.fields) for d in catalog}
        self.event_params = next(e.params for e in sdk_list_endpoints() if e.path == EVENTS_PATH) | {"expand"}

    async def handle(self, request: Request) -> Response:
        """Answer one request and log it (``Emulator.requests``)."""
        arrived = self.emulator.clock.monotonic()
        self.emulator.requests.begin()
        answered: LoggedRequest | None = None
        try:
            response = await self._answer(request)
            answered = LoggedRequest(
                at=arrived,
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                account=request.headers.get("stripe-account"),
                status=response.status_code,
            )
        finally:
            self.emulator.requests.finish(answered)
        return response

    async def _answer(self, request: Request) -> Response:
        headers = {"Request-Id": request_id(), "Stripe-Version": API_VERSION}
        emulator = self.emulator
        try:
            key = emulator.keys.authenticate(request.headers.get("authorization"))
            method, path = request.method, request.url.path
            decision = emulator.faults.decide(method, path, key)
            if decision.delay > 0:
                await emulator.clock.sleep(decision.delay)
            if decision.error is not None:
                raise decision.error
            account_id = request.headers.get("stripe-account")
            if account_id:
                headers["Stripe-Account"] = account_id
            query = request.url.query
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True) if query else []
            if method == "POST":
                pairs += urllib.parse.parse_qsl((await request.body()).decode(), keep_blank_values=True)
            params = decode_params(pairs)
            body = self.dispatch(method, path, params, account_id, headers["Request-Id"])
        except ApiError as error:
            return Response(
                dumps(error.body()), error.status, headers={**headers, **error.headers}, media_type=JSON
            )
        except EmulatorError as error:
            failure = ApiError(400, str(error))
            return Response(dumps(failure.body()), 400, headers=headers, media_type=JSON)
        return Response(body, 200, headers=headers, media_type=JSON)

    def dispatch(
        self, method: str, path: str, params: Mapping[str, Any], account_id: str | None, request_id: str
    ) -> bytes:
        store = self.emulator.store
        with store.lock:
            account = store.account(account_id)
            if method == "GET":
                return self._get(account, path, params)
            if method == "POST":
                return self._post(account, path, params, request_id)
            if method == "DELETE":
                return self._delete(account, path, request_id)
        raise unrecognized_url(method, path)

    def _get(self, account: AccountData, path: str, params: Mapping[str, Any]) -> bytes:
        store = self.emulator.store
        definition = self.lists.get(path)
        faults = self.emulator.faults.config
        if definition is not None:
            _check_params(params, definition.list_params | {"expand"})
            if faults.refuse_created_filter and "created" in params:
                raise unknown_parameter("created")
            request = parse_page_request(params)
            filters, excluded = list_filters(definition.name, params, self.field_names[definition.name])
            table = store.table(account, definition.name)
            return store.list_page(
                account, table, request, filters=filters, excluded=excluded, url=definition.list_path
            )
        if path == ACCOUNT_PATH:
            return dumps(account.account_object)
        if path == EVENTS_PATH:
            _check_params(params, self.event_params)
            if faults.refuse_event_types_filter and "types" in params:
                raise unknown_parameter("types")
            type_pattern, types = parse_type_filters(params)
            return account.events.list_page(
                parse_page_request(params), type_pattern=type_pattern, types=types
            )
        if path == ENDPOINTS_PATH:
            _check_params(params, PAGING_PARAMS)
            return list_endpoints(account, parse_page_request(params, allow_created=False))
        if path in self.nested_by_query:
            parent, field_name, parent_param = self.nested_by_query[path]
            _check_params(params, PAGING_PARAMS | {parent_param})
            parent_id = params.get(parent_param)
            if not isinstance(parent_id, str):
                raise missing_parameter(parent_param)
            request = parse_page_request(params, allow_created=False)
            return store.nested_page(
                account, store.table(account, parent.name), field_name, parent_id, request
            )
        head, _, last = path.rpartition("/")
        grand_head, _, object_id = head.rpartition("/")
        if (grand_head, last) in self.nested_by_path:
            parent, field_name = self.nested_by_path[(grand_head, last)]
            _check_params(params, PAGING_PARAMS)
            request = parse_page_request(params, allow_created=False)
            return store.nested_page(
                account, store.table(account, parent.name), field_name, object_id, request
            )
        if head in self.lists:
            return store.retrieve(account, store.table(account, self.lists[head].name), last)
        if head == EVENTS_PATH:
            return account.events.retrieve(last)
        if head == ENDPOINTS_PATH:
            return retrieve_endpoint(account, last)
        raise unrecognized_url("GET", path)

    def _post(self, account: AccountData, path: str, params: Mapping[str, Any], request_id: str) -> bytes:
        emulator = self.emulator
        if path == ENDPOINTS_PATH:
            return dumps(create_endpoint(account, params, now=emulator.now(), rng=emulator.rng))
        account_id = account.account_id
        definition = self.lists.get(path)
        if definition is not None:
            fields = _coerce(definition, params)
            result = emulator.mutator.create(
                definition.name, fields, account_id=account_id, request_id=request_id
            )
            return dumps(result.object)
        head, _, last = path.rpartition("/")
        if head == ENDPOINTS_PATH:
            return dumps(update_endpoint(account, last, params))
        if head in self.lists:
            definition = self.lists[head]
            fields = _coerce(definition, params)
            result = emulator.mutator.update(
                definition.name, last, fields, account_id=account_id, request_id=request_id
            )
            return dumps(result.object)
        raise unrecognized_url("POST", path)

    def _delete(self, account: AccountData, path: str, request_id: str) -> bytes:
        head, _, last = path.rpartition("/")
        if head == ENDPOINTS_PATH:
            return dumps(delete_endpoint(account, last))
        if head in self.lists:
            name = self.lists[head].name
            result = self.emulator.mutator.delete(
                name, last, account_id=account.account_id, request_id=request_id
            )
            return dumps(result.object)
        raise unrecognized_url("DELETE", path)


def list_filters(
    stream: str, params: Mapping[str, Any], field_names: frozenset[str]
) -> tuple[dict[str, str | frozenset[str]], dict[str, frozenset[str]]]:
    """Equality filters from list parameters named after fields (``customer``, ``charge``, ``status``).

    Subscriptions follow Stripe's default: without ``status`` the list leaves out canceled ones;
    ``status=all`` lists every one and ``status=ended`` the canceled and incomplete-expired ones.
    A sync that forgets ``status=all`` misses canceled subscriptions, here as against Stripe.
    """
    filters: dict[str, str | frozenset[str]] = {
        name: value
        for name, value in params.items()
        if name in field_names and name not in PAGING_PARAMS and name != "created" and isinstance(value, str)
    }
    excluded: dict[str, frozenset[str]] = {}
    if stream == "subscription":
        match filters.get("status"):
            case None:
                excluded["status"] = frozenset({"canceled"})
            case "all":
                del filters["status"]
            case "ended":
                filters["status"] = frozenset({"canceled", "incomplete_expired"})
    return filters, excluded


def _check_params(params: Mapping[str, Any], allowed: frozenset[str] | set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise unknown_parameter(name)


def _coerce(definition: StripeStreamDefinition, params: Mapping[str, Any]) -> dict[str, Any]:
    """Form values are strings; give top-level integers, numbers and booleans their JSON types."""
    kinds = {f.name: f.type.kind for f in definition.fields}
    fields = {key: value for key, value in params.items() if key != "expand"}
    for name, value in fields.items():
        if not isinstance(value, str):
            continue
        try:
            match kinds.get(name):
                case FieldKind.INTEGER:
                    fields[name] = int(value)
                case FieldKind.NUMBER:
                    fields[name] = float(value)
                case FieldKind.BOOLEAN:
                    fields[name] = value.lower() == "true"
        except ValueError:
            raise ApiError(
                400, f"Invalid {kinds[name].value}: {name}", code="parameter_invalid", param=name
            ) from None
    return fields
