"""``sync <id>`` and ``sync-batch <id>`` end to end: create from the CLI, sync, read the destination."""

from __future__ import annotations

import json

import pytest

from sync_platform.cli import EXIT_CONFLICT
from sync_platform.cli.pipeline_runs import run_stored_pipeline
from sync_platform.pipelines.runner import RunOptions
from sync_platform_tests.cli.conftest import CliInvoker, PipelineScenario, get
from sync_platform_tests.plugins.postgres import PgTestDatabase


def create(cli: CliInvoker, scenario: PipelineScenario, pipeline_id: str) -> None:
    cli.ok("pipelines", "create", "--id", pipeline_id, *scenario.create_args(pipeline_id))


def eofs(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_create_then_sync_puts_every_record_in_the_destination(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    create(cli, pipeline_scenario, "shop")
    assert pipeline_scenario.rows("shop") == set()

    result = cli.ok("sync", "shop")

    assert "Final status: succeeded" in result.stderr
    assert pipeline_scenario.rows("shop") == pipeline_scenario.expected


def test_sync_shows_per_stream_progress_and_saves_the_checkpoint(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    create(cli, pipeline_scenario, "shop")

    result = cli.ok("sync", "shop")

    for stream in {stream for stream, _ in pipeline_scenario.expected}:
        assert f"{stream}: completed" in result.stderr
    stored = json.loads(cli.ok("pipelines", "get", "shop", "--json").stdout)["sync_state"]
    assert stored["sync_run"]["progress"]["derived"]["total_record_count"] == len(pipeline_scenario.expected)


def test_a_second_sync_resumes_from_the_saved_checkpoint(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    create(cli, pipeline_scenario, "shop")
    cli.ok("sync", "shop")

    again = cli.ok("sync", "shop", "--json")

    assert json.loads(again.stdout)["run_progress"]["derived"]["total_record_count"] == 0
    assert pipeline_scenario.rows("shop") == pipeline_scenario.expected


@pytest.mark.usefixtures("every_checkpoint_committed")
def test_sync_batch_loop_resumes_batch_after_batch_and_ends_like_one_sync(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    create(cli, pipeline_scenario, "whole")
    create(cli, pipeline_scenario, "batched")
    cli.ok("sync", "whole")

    result = cli.ok("sync-batch", "batched", "--state-limit", "2", "--loop", "0", "--raw")

    batches = eofs(result.stdout)
    assert len(batches) > 2
    assert [batch["has_more"] for batch in batches] == [True] * (len(batches) - 1) + [False]
    read = [batch["request_progress"]["derived"]["total_record_count"] for batch in batches]  # type: ignore[index]
    assert sum(read) == len(pipeline_scenario.expected)  # no batch re-read what an earlier one wrote
    assert pipeline_scenario.rows("batched") == pipeline_scenario.rows("whole") == pipeline_scenario.expected


def test_each_batch_checkpoint_is_saved_before_the_next_batch(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    """Stopping after any batch and starting a new invocation continues exactly where it stopped."""
    create(cli, pipeline_scenario, "batched")

    first = eofs(cli.ok("sync-batch", "batched", "--state-limit", "2", "--raw").stdout)
    assert len(first) == 1
    stored = json.loads(cli.ok("pipelines", "get", "batched", "--json").stdout)["sync_state"]
    assert stored["source"] == first[0]["ending_state"]["source"]  # type: ignore[index]
    rest = eofs(cli.ok("sync-batch", "batched", "--state-limit", "2", "--loop", "0", "--raw").stdout)

    read = [b["request_progress"]["derived"]["total_record_count"] for b in first + rest]  # type: ignore[index]
    assert sum(read) == len(pipeline_scenario.expected)
    assert pipeline_scenario.rows("batched") == pipeline_scenario.expected


def test_sync_batch_human_output_has_a_line_per_batch_and_the_final_status(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    create(cli, pipeline_scenario, "shop")

    result = cli.ok("sync-batch", "shop", "--state-limit", "3", "--loop", "2")

    assert "batch 1: " in result.stderr
    assert "batch 2: " in result.stderr
    assert "batch 3: " not in result.stderr
    assert "Final status: " in result.stderr
    assert "more to do" in result.stderr


def test_reset_state_starts_over_from_nothing(cli: CliInvoker, pipeline_scenario: PipelineScenario) -> None:
    create(cli, pipeline_scenario, "shop")
    cli.ok("sync", "shop")

    batches = eofs(cli.ok("sync-batch", "shop", "--reset-state", "--loop", "0", "--raw").stdout)

    read = sum(b["request_progress"]["derived"]["total_record_count"] for b in batches)  # type: ignore[index]
    assert read == len(pipeline_scenario.expected)


def test_every_batch_of_one_invocation_shares_its_run_id(cli: CliInvoker, pg: PgTestDatabase) -> None:
    cli.ok("pipelines", "create", "--id", "shop", "--source", "fixture", "--destination", "null")

    batches = eofs(
        cli.ok("sync-batch", "shop", "--state-limit", "5", "--loop", "3", "--run-id", "run-7", "--raw").stdout
    )

    assert [b["ending_state"]["sync_run"]["run_id"] for b in batches] == ["run-7"] * 3  # type: ignore[index]


def test_a_failing_sync_exits_1_and_keeps_the_checkpoint_reached(cli: CliInvoker) -> None:
    cli.ok(
        "pipelines", "create", "--id", "flaky", "--source", "fixture", "--destination", "null",
        "--source.streams", '{"customer": 50}', "--source.state-every", "10", "--source.fail-after", "25",
    )  # fmt: skip

    result = cli("sync", "flaky")

    assert result.exit_code == 1
    assert "Final status: failed" in result.stderr
    assert "simulated failure after 25 records" in result.stderr
    assert "Traceback" not in result.output
    stored = json.loads(cli.ok("pipelines", "get", "flaky", "--json").stdout)["sync_state"]
    assert stored["source"]["streams"]["customer"] == {"offset": 20}


def test_sync_batch_of_a_failing_pipeline_exits_1(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "flaky", "--source", "fixture", "--destination", "null")
    cli.ok("pipelines", "update", "flaky", "--source.fail-after", "5")

    result = cli("sync-batch", "flaky", "--loop", "0")

    assert result.exit_code == 1
    assert "failed: " in result.stderr
    assert "Final status: failed" in result.stderr


def test_sync_with_an_id_refuses_ad_hoc_options(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", "--source", "fixture", "--destination", "null")

    result = cli("sync", "shop", "--source", "fixture", "--state-file", "x.json")

    assert result.exit_code == 2
    assert "--source, --state-file cannot be combined with a pipeline id" in result.stderr


def test_a_paused_pipeline_is_refused_unless_forced_and_stays_paused(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", "--source", "fixture", "--destination", "null", "--paused")

    refused = [cli("sync", "shop"), cli("sync-batch", "shop", "--loop", "0")]
    forced = cli.ok("sync", "shop", "--force")

    assert [result.exit_code for result in refused] == [EXIT_CONFLICT, EXIT_CONFLICT]
    for result in refused:
        assert "it is paused; resume it first (`sync-platform pipelines resume shop`)" in result.stderr
        assert "Pass --force to run it anyway." in result.stderr
    assert "Final status: succeeded" in forced.stderr
    assert get(cli, "shop")["display_status"] == "paused"


def test_the_first_run_sets_the_pipeline_up_before_writing(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    """The destination's tables come from its setup: without it the first write would fail."""
    create(cli, pipeline_scenario, "shop")

    result = cli.ok("sync-batch", "shop", "--loop", "0")

    lines = result.stderr.splitlines()
    setup = next(i for i, line in enumerate(lines) if line.startswith("set up "))
    first_batch = next(i for i, line in enumerate(lines) if line.startswith("backfill batch 1:"))
    assert setup < first_batch
    assert "status: setting_up → backfilling" in lines
    assert "status: backfilling → ready" in lines
    assert pipeline_scenario.rows("shop") == pipeline_scenario.expected
    assert get(cli, "shop")["display_status"] == "ready"
    again = cli.ok("sync-batch", "shop", "--loop", "0")
    assert not any(line.startswith("set up ") for line in again.stderr.splitlines())  # set up once


def test_a_run_keeps_its_last_eof_without_the_ending_state_unless_it_prints_it_whole(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    """The summary and the exit code need the last batch's status and progress; its ending state
    is the whole checkpoint (a Connect platform's: an entry per account and stream), which kept
    there stayed alive next to the run's last status move. ``sync --json`` prints the eof whole."""
    create(cli, pipeline_scenario, "shop")

    outcome = run_stored_pipeline(
        cli.context_factory(), "shop", command="sync", lanes=None, options=RunOptions(), raw=None
    )

    assert outcome.last_eof is not None
    assert outcome.last_eof.ending_state is None
    assert outcome.last_eof.status.value == "succeeded"
    assert not outcome.last_eof.has_more
    assert outcome.last_eof.run_progress.derived.total_record_count == len(pipeline_scenario.expected)
    printed = json.loads(cli.ok("sync", "shop", "--reset-state", "--json").stdout)  # the backfill again
    stored = get(cli, "shop")["sync_state"]
    assert printed["ending_state"]["source"] == stored["source"]
