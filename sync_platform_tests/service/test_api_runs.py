"""Running pipelines over HTTP: the runner's lanes, refusals, checkpoints and run history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.pipelines.run_log import RunOrigin, RunOutcome, RunRecord
from sync_platform_tests.cli.conftest import DEST_URL_ENV, postgres_rows, rows_in
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.service.conftest import (
    NULL_DESTINATION,
    RunningService,
    assert_no_secret,
    rows_destination,
)

FIXTURE_RECORDS = {"customer": 23, "invoice": 7}


def fixture_source(**config: Any) -> dict[str, Any]:
    return {
        "type": "secretive",
        "secretive": {
            "api_key": {"env": "STRIPE_API_KEY"},
            "streams": FIXTURE_RECORDS,
            "state_every": 3,
            **config,
        },
    }


def create(service: RunningService, pg: PgTestDatabase, pipeline_id: str = "shop", **body: Any) -> None:
    document = {
        "id": pipeline_id,
        "source": fixture_source(),
        "destination": rows_destination(pg, f"rows_{pipeline_id}"),
        **body,
    }
    response = service.admin.post("/pipelines", json=document)
    assert response.status_code == 201, response.text


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def events(stream: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [line["run"] for line in stream if line["type"] == "run" and line["run"]["event"] == name]


def test_sync_batch_runs_one_batch_and_saves_its_checkpoint_as_the_cli_does(
    service: RunningService, pg: PgTestDatabase
) -> None:
    create(service, pg)

    first = service.admin.post("/pipelines/shop/sync_batch", params={"state_limit": 2})
    assert first.status_code == 200, first.text
    eof = first.json()
    assert (eof["status"], eof["has_more"]) == ("started", True)
    stored = service.admin.get("/pipelines/shop", params={}).json()
    assert stored["sync_state"]["source"] == eof["ending_state"]["source"]  # the checkpoint is the eof's
    assert stored["display_status"] == "backfilling"

    batches = [eof]
    while batches[-1]["has_more"]:
        batches.append(service.admin.post("/pipelines/shop/sync_batch", params={"state_limit": 2}).json())
    read = sum(batch["request_progress"]["derived"]["total_record_count"] for batch in batches)
    assert read == sum(FIXTURE_RECORDS.values())  # every batch resumed where the last one stopped
    assert len(rows_in(pg, "rows_shop")) == read
    assert service.admin.get("/pipelines/shop").json()["display_status"] == "ready"


def test_sync_streams_the_run_as_ndjson_ending_with_run_ended(
    service: RunningService, pg: PgTestDatabase
) -> None:
    create(service, pg)

    response = service.admin.post("/pipelines/shop/sync", params={"state_limit": 3})

    assert response.headers["content-type"].startswith("application/x-ndjson")
    stream = lines(response)
    assert stream[-1] == {"type": "run", "run": {"event": "run_ended", "status": "succeeded"}}
    moves = [(e["before"], e["after"]) for e in events(stream, "status_changed")]
    assert moves == [("setting_up", "backfilling"), ("backfilling", "ready")]
    eofs = [line for line in stream if line["type"] == "eof"]
    assert [e["eof"]["has_more"] for e in eofs] == [True] * (len(eofs) - 1) + [False]
    assert {line["type"] for line in stream} >= {"progress", "stream_status", "eof", "run"}
    assert events(stream, "checkpoint_saved")
    assert len(rows_in(pg, "rows_shop")) == sum(FIXTURE_RECORDS.values())


def test_a_run_the_pipeline_forbids_is_refused_before_any_work(
    service: RunningService, pg: PgTestDatabase
) -> None:
    create(service, pg, desired_status="paused")
    for path in ("/pipelines/shop/sync", "/pipelines/shop/sync_batch"):
        refused = service.admin.post(path)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["type"] == "PipelineNotRunnableError"
        assert "it is paused; resume it first" in error["message"]
    assert (
        service.admin.post("/pipelines/shop/sync_batch", params={"force": True}).json()["has_more"] is False
    )
    assert service.admin.get("/pipelines/shop").json()["status"] == "paused"  # forced: status left alone

    service.admin.delete("/pipelines/shop")
    deleted = service.admin.post("/pipelines/shop/sync").json()["error"]
    assert "deleted is terminal" in deleted["message"]


def test_a_busy_pipeline_is_refused_naming_the_run_in_the_way(
    service: RunningService, pg: PgTestDatabase
) -> None:
    create(service, pg)
    with service.store.run_lock("shop", holder="Dagster run 1234abcd", lane="backfill"):
        refused = service.admin.post("/pipelines/shop/sync_batch")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "PipelineBusyError"
    assert "Dagster run 1234abcd" in refused.json()["error"]["message"]


def test_a_failed_lane_is_recorded_with_its_kind_and_answered(
    service: RunningService,
    pg: PgTestDatabase,
    stripe_emulator_factory: Callable[..., RunningEmulator],
    service_environ: dict[str, str],
) -> None:
    emulator = stripe_emulator_factory(objects=20, seed=5)
    service_environ["STRIPE_API_KEY"] = emulator.secret_key
    source = {
        "type": "stripe",
        "stripe": {"api_key": {"env": "STRIPE_API_KEY"}, "base_url": emulator.base_url},
    }
    document = {"id": "shop", "source": source, "destination": NULL_DESTINATION, "streams": ["customer"]}
    assert service.admin.post("/pipelines", json=document).status_code == 201
    emulator.set_faults(scripted=({"path": "/v1/*", "method": "*", "status": 401, "times": 1000},))

    failed = service.admin.post("/pipelines/shop/sync_batch")  # setup fails: no batch to answer

    assert failed.status_code == 502
    assert failed.json()["error"]["message"].startswith("The backfill lane of pipeline 'shop' failed: [auth]")
    recorded = service.admin.get("/pipelines/shop").json()
    assert (recorded["display_status"], recorded["error"]["kind"]) == ("error", "auth")
    parked = service.admin.post("/pipelines/shop/sync")
    assert parked.status_code == 409
    assert "it is parked after a failure: [auth]" in parked.json()["error"]["message"]
    stream = lines(service.admin.post("/pipelines/shop/sync", params={"force": True}))
    assert events(stream, "run_failed")[0]["error"]["kind"] == "auth"
    assert stream[-1]["run"] == {"event": "run_ended", "status": "failed"}


def test_a_crash_ends_the_stream_with_its_error(service: RunningService, pg: PgTestDatabase) -> None:
    create(service, pg)
    broken = {"type": "rows", "rows": {"dsn": "postgresql://nobody@127.0.0.1:1/none", "table": "t"}}
    assert service.admin.patch("/pipelines/shop", json={"destination": broken}).status_code == 200

    stream = lines(service.admin.post("/pipelines/shop/sync"))

    assert events(stream, "run_failed")[0]["error"]["kind"] == "internal"  # recorded on the pipeline
    assert stream[-1]["run"]["status"] == "crashed"
    assert stream[-1]["run"]["error"]["message"].startswith("Internal error")


def test_check_setup_and_teardown(service: RunningService, pg: PgTestDatabase) -> None:
    create(service, pg)

    checked = service.admin.post("/pipelines/shop/check").json()
    assert checked["succeeded"] is True
    assert [c["side"] for c in checked["data"]] == ["source", "destination"]
    only = service.admin.post("/pipelines/shop/check", params={"only": "destination"}).json()
    assert [c["side"] for c in only["data"]] == ["destination"]
    assert service.admin.post("/pipelines/shop/setup").json()["id"] == "shop"

    refused = service.admin.post("/pipelines/shop/teardown")
    assert refused.status_code == 409
    assert "only a deleted pipeline is torn down" in refused.json()["error"]["message"]
    service.admin.delete("/pipelines/shop")
    assert service.admin.post("/pipelines/shop/check").status_code == 409
    assert service.admin.post("/pipelines/shop/setup").status_code == 409
    torn = service.admin.post("/pipelines/shop/teardown")
    assert torn.status_code == 200, torn.text
    assert torn.json()["display_status"] == "deleted"


def test_runs_lists_recorded_runs_beside_dagsters_newest_first(
    make_service: Callable[..., RunningService], pg: PgTestDatabase
) -> None:
    class DagsterRuns:
        def recent_runs(self, pipeline_id: str, limit: int) -> list[RunRecord]:
            from datetime import UTC, datetime

            started = datetime(2020, 1, 1, tzinfo=UTC)
            run = RunRecord(
                id="9f8e7d6c", pipeline_id=pipeline_id, origin=RunOrigin.DAGSTER,
                status=RunOutcome.SUCCEEDED, lanes=("backfill",), started_at=started, finished_at=started,
                batches=3, records=30, dagster_run_id="9f8e7d6c", url="http://dagster.test:3000/runs/9f8e7d6c",
            )  # fmt: skip
            return [run]

    service = make_service(dagster_runs=DagsterRuns())
    create(service, pg)
    service.admin.post("/pipelines/shop/sync_batch", params={"state_limit": 2})
    service.admin.post("/pipelines/shop/sync")

    answer = service.reader.get("/pipelines/shop/runs").json()

    assert answer["dagster"] == "available"
    runs = answer["data"]
    assert [run["origin"] for run in runs] == ["api", "api", "dagster"]
    assert runs[0]["status"] == runs[1]["status"] == "succeeded"
    assert runs[0]["records"] + runs[1]["records"] == sum(FIXTURE_RECORDS.values())
    assert runs[1]["batches"] == 1
    assert runs[2]["url"] == "http://dagster.test:3000/runs/9f8e7d6c"
    assert (
        service.reader.get("/pipelines/shop/runs", params={"limit": 1}).json()["data"][0]["id"]
        == runs[0]["id"]
    )


def test_a_client_that_disconnects_cancels_the_run_keeping_its_committed_checkpoint(
    service: RunningService,
    pg: PgTestDatabase,
    stripe_emulator_factory: Callable[..., RunningEmulator],
    service_environ: dict[str, str],
) -> None:
    """Hanging up closes the runner's event stream mid-batch, as the CLI's Ctrl-C does: the engine
    unwinds the destination and the source at once (no generator is left to the loop's shutdown)."""
    emulator = stripe_emulator_factory(objects=20, seed=5, counts={"customer": 1500})
    service_environ["STRIPE_API_KEY"] = emulator.secret_key
    schema = f"{pg.schema}_cancel"
    config = {"api_key": {"env": "STRIPE_API_KEY"}, "base_url": emulator.base_url, "rate_limit": 1000}
    source = {"type": "stripe", "stripe": {**config, "max_concurrency": 2}}
    destination = {"type": "postgres", "postgres": {"url": {"env": DEST_URL_ENV}, "schema": schema}}
    document = {"id": "big", "source": source, "destination": destination, "streams": ["customer"]}
    assert service.admin.post("/pipelines", json=document).status_code == 201
    emulator.set_faults(latency_ms=40)

    with service.admin.stream("POST", "/pipelines/big/sync") as response:
        for line in response.iter_lines():
            run = json.loads(line).get("run") or {}
            if run.get("event") == "checkpoint_saved" and run["state"]["source"]["streams"].get("customer"):
                break  # a page of customers committed: hang up mid-backfill

    deadline = time.monotonic() + 30
    while (runs := service.admin.get("/pipelines/big/runs").json()["data"])[0]["status"] == "running":
        assert time.monotonic() < deadline, "the run went on after its client left"
        time.sleep(0.1)
    assert runs[0]["status"] == "cancelled"
    kept = service.store.get("big").sync_state
    assert kept is not None, kept
    assert kept["source"]["streams"]["customer"]["remaining"]  # stopped mid-stream, position kept
    emulator.set_faults()

    resumed = lines(service.admin.post("/pipelines/big/sync"))  # the lock is free again

    assert resumed[-1]["run"]["status"] == "succeeded"
    assert postgres_rows(pg, schema) == {("customer", obj["id"]) for obj in emulator.objects("customer")}
    read_again = sum(
        e["eof"]["request_progress"]["derived"]["total_record_count"] for e in resumed if e["type"] == "eof"
    )
    assert read_again < 1500  # it resumed from the kept checkpoint, not from the start
    with pg.connect() as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.parametrize("path", ["/pipelines/shop/sync", "/pipelines/shop/sync_batch"])
def test_run_answers_never_carry_a_secret(service: RunningService, pg: PgTestDatabase, path: str) -> None:
    from sync_platform_tests.plugins.pipelines import STRIPE_KEY

    source = fixture_source(api_key=STRIPE_KEY)
    create(service, pg, source=source)
    response = service.admin.post(path)
    assert response.status_code == 200
    assert_no_secret([*service.transcript, response.text], (service.admin_token,))


def test_unknown_lane_and_bad_limits_are_400_naming_the_parameter(
    service: RunningService, pg: PgTestDatabase
) -> None:
    create(service, pg)
    for params, field in (({"lane": "teardown"}, "lane"), ({"state_limit": -1}, "state_limit"),
                          ({"time_limit": 0}, "time_limit")):  # fmt: skip
        answer = service.admin.post("/pipelines/shop/sync_batch", params=params)
        assert answer.status_code == 400
        assert answer.json()["error"]["field"] == field


def test_a_streamed_runs_pipelines_carry_their_checkpoints_as_the_api_shows_them(
    service: RunningService, pg: PgTestDatabase
) -> None:
    """The runner's events carry the pipeline row only; the NDJSON still sends each one whole."""
    create(service, pg)
    assert service.admin.post("/pipelines/shop/sync_batch", params={"state_limit": 3}).status_code == 200
    resumed_from = service.admin.get("/pipelines/shop").json()["sync_state"]

    stream = lines(service.admin.post("/pipelines/shop/sync", params={"state_limit": 3}))

    [started] = events(stream, "lane_started")
    assert resumed_from is not None
    assert started["pipeline"]["sync_state"] == resumed_from
    [ready] = events(stream, "status_changed")
    assert (ready["before"], ready["after"]) == ("backfilling", "ready")
    stored = service.admin.get("/pipelines/shop").json()
    assert ready["pipeline"]["version"] == stored["version"]
    assert ready["pipeline"]["sync_state"] == stored["sync_state"] != resumed_from
