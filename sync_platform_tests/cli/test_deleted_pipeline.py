"""A deleted pipeline end to end: once synced and deleted, nothing can change it or run it again."""

from __future__ import annotations

from sync_platform.cli import EXIT_CONFLICT
from sync_platform_tests.cli.conftest import CliInvoker, PipelineScenario, get
from sync_platform_tests.cli.test_pipeline_sync import create


def test_after_delete_an_update_is_a_conflict_that_changes_nothing(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    create(cli, pipeline_scenario, "shop")
    cli.ok("sync", "shop")
    cli.ok("pipelines", "delete", "shop")
    before = get(cli, "shop")
    one_stream = min(stream for stream, _ in pipeline_scenario.expected)

    result = cli("pipelines", "update", "shop", "--streams", one_stream)

    assert result.exit_code == EXIT_CONFLICT
    assert result.stderr.strip() == (
        "Error: Pipeline 'shop' is deleted, and deleted is terminal: it cannot be updated. "
        "Create a new pipeline instead."
    )
    assert get(cli, "shop") == before  # same streams, configs and version


def test_after_delete_a_sync_is_a_conflict_and_nothing_reaches_the_destination(
    cli: CliInvoker, pipeline_scenario: PipelineScenario
) -> None:
    """Not even the connector setup runs: a deleted pipeline only waits for the platform's teardown."""
    create(cli, pipeline_scenario, "shop")
    cli.ok("pipelines", "delete", "shop")

    results = [cli("sync", "shop"), cli("sync-batch", "shop", "--loop", "0")]

    assert [result.exit_code for result in results] == [EXIT_CONFLICT, EXIT_CONFLICT]
    assert all("it is deleted, and deleted is terminal" in result.stderr for result in results)
    assert pipeline_scenario.rows("shop") == set()
