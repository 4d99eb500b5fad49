"""What a user reads: each message says what happened in plain words, counts agree with their nouns,
and tables are not cut to 80 columns when the output goes to a file or a pipe."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sync_platform.cli import cli as sync_platform_cli
from sync_platform.cli.output import plural
from sync_platform.cli.pipeline_runs import batch_summary
from sync_platform.cli.pipeline_views import _checkpoint
from sync_platform.pipelines.runner import Lane
from sync_platform.protocol import EofPayload
from sync_platform_tests.cli.conftest import NULL, SECRETIVE, CliInvoker


def test_a_paused_pipeline_is_not_announced_as_being_set_up(cli: CliInvoker) -> None:
    out = cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL, "--paused").stdout
    assert "Created pipeline shop, paused: nothing is set up or synced until" in out
    assert "sets it up and backfills it" not in out
    active = cli.ok("pipelines", "create", "--id", "shop2", *SECRETIVE, *NULL).stdout
    assert "Created pipeline shop2; the platform sets it up and backfills it." in active


def test_an_invalid_pipeline_id_is_explained_not_quoted_as_a_regex(cli: CliInvoker) -> None:
    result = cli("pipelines", "create", "--id", "Shop!", *SECRETIVE, *NULL)
    assert result.exit_code == 2
    assert "must be 3 to 64 characters: a lowercase letter, then lowercase letters, digits" in result.stderr
    assert "(got 'Shop!')" in result.stderr
    assert "String should match pattern" not in result.stderr


def test_counts_agree_with_their_nouns() -> None:
    assert [plural(1, "checkpoint"), plural(2, "checkpoint"), plural(3, "batch")] == [
        "1 checkpoint",
        "2 checkpoints",
        "3 batches",
    ]
    one = {"record_count": 1, "state_count": 1}
    derived = {"total_record_count": 1, "total_state_count": 1}
    eof = EofPayload.model_validate(
        {
            "status": "succeeded",
            "has_more": False,
            "request_progress": {
                "started_at": "2026-01-01T00:00:00Z",
                "streams": {"customer": one},
                "derived": derived,
            },
            "run_progress": {
                "started_at": "2026-01-01T00:00:00Z",
                "streams": {"customer": one},
                "derived": derived,
            },
        }
    )
    line = batch_summary(Lane.BACKFILL, 1, eof, applied=1)
    assert "1 record, 1 checkpoint, 1 webhook event applied (run: 1 record)" in line


def test_a_live_checkpoint_shows_its_cursor_not_zero_streams() -> None:
    live = {"source": {"streams": {}, "global": {"events_cursor": "evt_123"}}}
    assert _checkpoint(live) == 'cursor {"events_cursor": "evt_123"}'
    backfill = {"source": {"streams": {f"s{i}": {} for i in range(8)}}}
    assert _checkpoint(backfill) == "8 streams: s0, s1, s2, s3, s4, s5 and 2 more"
    assert _checkpoint(None) == "none"


def test_an_unreachable_database_names_the_flag_that_gave_its_url() -> None:
    url = "postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2"
    result = CliRunner().invoke(sync_platform_cli, ["--database-url", url, "pipelines", "list"])
    assert result.exit_code == 1
    assert "Cannot connect to the app database 'nowhere' on 127.0.0.1:1" in result.stderr
    assert "?." not in result.stderr
    assert "Hint: Fix the URL given by --database-url (or SYNC_PLATFORM_DATABASE_URL)" in result.stderr
    assert "Check DATABASE_URL" not in result.stderr


def test_tables_keep_their_width_when_written_to_a_pipe(
    cli: CliInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # a shell that exports it chooses the width itself
    cli.ok(
        "pipelines", "create", "--id", "a_pipeline_with_a_rather_long_name_for_the_table", *SECRETIVE, *NULL
    )
    out = cli.ok("pipelines", "list").stdout
    assert "a_pipeline_with_a_rather_long_name_for_the_table" in out  # one cell, not wrapped at 80
    assert max(len(line) for line in out.splitlines()) > 80
