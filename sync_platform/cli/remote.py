"""``sync-platform --remote URL``: the same commands, against a running ``sync-platform serve``.

An operator manages a deployed platform from a laptop: ``pipelines …``, ``sync <id>``,
``sync-batch <id>`` and ``streams`` send their requests to the service's API (a token read from
the variable ``--token-env`` names) and print exactly what they print locally. The service answers
pipelines masked, which is all a command prints; a streamed run comes back as the runner's events
(``service.run_wire``) and goes through the same presenter as a local run; an error comes back with
its type, message and status, and becomes an error of that name with the local exit code
(2 bad input, 3 conflict, 1 a failure). Interrupting a streamed run (Ctrl-C) closes the connection,
which cancels the run on the service with its committed checkpoints kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, Literal

import httpx

from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.pipelines import ConnectorConfigs, DesiredStatus, Pipeline, PipelineCreate, PipelineUpdate
from sync_platform.pipelines.connector_check import CheckResult
from sync_platform.pipelines.runner import Lane, RunEvent, RunOptions
from sync_platform.redaction import redact
from sync_platform.service.run_wire import decode, pipeline_from_masked

DEFAULT_TOKEN_ENV = "SYNC_PLATFORM_TOKEN"
REMOTE_URL_ENV = "SYNC_PLATFORM_REMOTE_URL"
TIMEOUT_SECONDS = 60.0

Side = Literal["source", "destination"]


class RemoteError(SyncPlatformError):
    """An error the service answered; its class is named after the service's error type."""

    http_status: int = 500
    field: str | None = None


class RemoteUnavailableError(SyncPlatformError, ConnectionError):
    """The service cannot be reached (exit 1)."""


@cache
def _error_class(name: str, base: type[Exception]) -> type[RemoteError]:
    """A ``RemoteError`` subclass named like the service's error, on the builtin that gives the
    local exit code (``LookupError``/``ValueError``: 2; ``RuntimeError``: 1; ``http_status`` 409: 3)."""
    safe = name if name.isidentifier() else "RemoteError"
    return type(safe, (RemoteError, base), {"__module__": __name__})


def remote_error(status: int, body: Any) -> RemoteError:
    detail = body.get("error") if isinstance(body, dict) else None
    detail = detail if isinstance(detail, dict) else {}
    message = str(detail.get("message") or f"The service answered HTTP {status}.")
    base: type[Exception] = (
        LookupError if status == 404 else ValueError if status in (400, 401, 403) else RuntimeError
    )
    error = _error_class(str(detail.get("type") or "RemoteError"), base)(redact(message))
    error.http_status = status
    error.field = detail.get("field") if isinstance(detail.get("field"), str) else None
    return error


class RemoteClient:
    """The service's API at ``base_url``, called with a bearer token."""

    def __init__(self, base_url: str, token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
            transport=transport,
        )

    @classmethod
    def from_environ(cls, base_url: str, token_env: str, environ: Mapping[str, str]) -> RemoteClient:
        token = (environ.get(token_env) or "").strip()
        if not token:
            raise ConfigError(
                f"--remote needs an API token, read from the environment variable {token_env}, which is not "
                f"set. Export the token `sync-platform tokens create --name NAME` printed on the platform's "
                "machine, or name another variable with --token-env.",
                field="token_env",
            )
        return cls(base_url, token)

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        body = _json(response)
        if response.status_code >= 400:
            raise remote_error(response.status_code, body)
        return body

    def _unreachable(self, error: Exception) -> RemoteUnavailableError:
        return RemoteUnavailableError(
            f"Cannot reach the sync-platform service at {self.base_url}: "
            f"{redact(str(error)) or type(error).__name__}. Check --remote, and that `sync-platform serve` "
            "runs there."
        )

    def run(self, pipeline_id: str, lanes: Sequence[Lane] | None, options: RunOptions) -> Iterator[RunEvent]:
        """``POST /pipelines/{id}/sync`` as the runner's events; raises the service's refusal first."""
        params: dict[str, Any] = {
            "state_limit": options.state_limit or 0,
            "reset_state": options.reset_state,
            "force": options.force,
        }
        if lanes:
            params["lane"] = lanes[0].value
        if options.time_limit is not None:
            params["time_limit"] = options.time_limit
        if options.max_batches is not None:
            params["max_batches"] = options.max_batches
        if options.streams is not None:
            params["streams"] = ",".join(options.streams)
        if options.run_id is not None:
            params["run_id"] = options.run_id
        try:
            with self._http.stream(
                "POST",
                f"/pipelines/{pipeline_id}/sync",
                params=params,
                timeout=httpx.Timeout(30.0, read=None),
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise remote_error(response.status_code, _json(response))
                ended: dict[str, Any] | None = None
                for line in response.iter_lines():
                    item = decode(line)
                    if isinstance(item, dict):
                        ended = item
                    elif item is not None:
                        yield item
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None
        if ended is None:
            raise RemoteUnavailableError(
                "The service's stream ended before the run did (the connection dropped); the run was "
                "cancelled there, and every checkpoint it committed is kept."
            )
        if ended.get("status") == "crashed":
            raise remote_error(500, {"error": ended.get("error")})


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _if_match(version: int | None) -> dict[str, str] | None:
    return None if version is None else {"If-Match": f'"{version}"'}


def _check_result(data: dict[str, Any]) -> CheckResult:
    return CheckResult(data["side"], data["connector"], data["status"] == "succeeded", data.get("message"))


class RemotePipelines:
    """``PipelineBackend`` over the service's API."""

    def __init__(self, client: RemoteClient, configs: ConnectorConfigs) -> None:
        self.client = client
        self._configs = configs

    @property
    def configs(self) -> ConnectorConfigs:
        return self._configs

    def create(self, request: PipelineCreate, *, skip_check: bool) -> tuple[Pipeline, list[CheckResult]]:
        body = self.client.request(
            "POST",
            "/pipelines",
            params={"skip_check": skip_check},
            json=request.model_dump(mode="json", exclude_unset=True),
        )
        return pipeline_from_masked(body), [_check_result(check) for check in body.get("checks") or ()]

    def list_pipelines(self, *, include_deleted: bool) -> list[Pipeline]:
        params = {"include_deleted": include_deleted, "include_state": True}
        return [
            pipeline_from_masked(item)
            for item in self.client.request("GET", "/pipelines", params=params)["data"]
        ]

    def get(self, pipeline_id: str) -> tuple[Pipeline, int]:
        body = self.client.request("GET", f"/pipelines/{pipeline_id}")
        return pipeline_from_masked(body), int(body.get("pending_webhook_events") or 0)

    def update(self, pipeline_id: str, change: PipelineUpdate, *, expected_version: int | None) -> Pipeline:
        body = change.model_dump(mode="json", exclude_unset=True)
        answer = self.client.request(
            "PATCH", f"/pipelines/{pipeline_id}", json=body, headers=_if_match(expected_version)
        )
        return pipeline_from_masked(answer)

    def set_desired(
        self, pipeline_id: str, desired: DesiredStatus, *, expected_version: int | None
    ) -> Pipeline:
        headers = _if_match(expected_version)
        if desired is DesiredStatus.DELETED:
            return pipeline_from_masked(
                self.client.request("DELETE", f"/pipelines/{pipeline_id}", headers=headers)
            )
        body = {"desired_status": desired.value}
        return pipeline_from_masked(
            self.client.request("PATCH", f"/pipelines/{pipeline_id}", json=body, headers=headers)
        )

    def purge(self, pipeline_id: str) -> list[str]:
        body = self.client.request("DELETE", f"/pipelines/{pipeline_id}", params={"force": True})
        return list(body.get("may_be_left_behind") or ())

    def check(self, pipeline_id: str, *, only: Side | None) -> list[CheckResult]:
        params = {"only": only} if only else None
        body = self.client.request("POST", f"/pipelines/{pipeline_id}/check", params=params)
        return [_check_result(item) for item in body["data"]]
