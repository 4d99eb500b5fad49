"""``sync-platform sync`` and ``demo`` through click's runner, with the real engine."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from sync_platform.cli import cli
from sync_platform.embedded_postgres import HOME_ENV, embedded_postgres
from sync_platform.protocol import EofMessage, iter_messages


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sync_shows_per_stream_progress_and_the_final_status() -> None:
    code, _, err = invoke("sync", "--source-config", '{"streams": {"customer": 250, "invoice": 40}}')
    assert code == 0, err
    assert "customer: completed, 250 records" in err
    assert "invoice: completed, 40 records" in err
    assert "Final status: succeeded (290 records" in err


def test_raw_prints_engine_messages_as_ndjson_ending_with_the_eof() -> None:
    code, out, _ = invoke(
        "sync", "--raw", "--source-config", '{"streams": {"customer": 30}, "state_every": 10}'
    )
    assert code == 0
    messages = list(iter_messages(out.splitlines()))
    assert isinstance(messages[-1], EofMessage)
    assert messages[-1].eof.run_progress.derived.total_record_count == 30
    assert {m.type for m in messages} == {"stream_status", "progress", "source_state", "eof"}


def test_a_failing_source_exits_1_with_the_failure_in_the_final_status() -> None:
    code, _, err = invoke("sync", "--source-config", '{"streams": {"customer": 50}, "fail_after": 20}')
    assert code == 1
    assert "Final status: failed" in err
    assert "simulated failure after 20 records" in err
    assert "Traceback" not in err


def test_bad_config_is_one_line_naming_the_field_and_exit_2() -> None:
    code, _, err = invoke("sync", "--source-config", '{"state_every": 0}')
    assert code == 2
    assert err.strip().splitlines() == [
        "Error: Invalid source config for 'fixture' at 'state_every': must be >= 1."
    ]


def test_an_unknown_stream_suggests_the_right_name() -> None:
    code, _, err = invoke("sync", "--streams", "custmer")
    assert code == 2
    assert "Did you mean 'customer'?" in err


def test_batches_loop_until_done_and_the_state_file_resumes(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    config = '{"streams": {"customer": 100}, "state_every": 10}'
    code, _, err = invoke(
        "sync", "--state-limit", "3", "--state-file", str(state_file), "--source-config", config
    )
    assert code == 0, err
    assert json.loads(state_file.read_text())["source"]["streams"]["customer"] == {"offset": 100}
    code, _, err = invoke("sync", "--state-file", str(state_file), "--source-config", config)
    assert code == 0
    assert "0 records" in err  # nothing left to read after resuming from the saved checkpoint


@pytest.mark.slow
def test_demo_backfills_through_dagster_and_applies_live_webhooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's main command: progress on stderr; on stdout the streams, several batches with
    their checkpoints, the webhook changes read back from PostgreSQL, and a connection command
    that opens the tables once the embedded server runs again (as under ``make dev``)."""
    for name in ("DATABASE_URL", "STRIPE_API_KEY", "SYNC_PLATFORM_SECRET_KEY", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("SYNC_PLATFORM_HOME", str(home))
    code, out, err = invoke("demo", "--objects", "300")
    assert code == 0, err[-3000:]
    assert "pipeline_lifecycle_sensor added the partition" in err  # progress: stderr
    assert "Checkpoints committed per batch" in out  # results: stdout
    batches = re.search(r"The backfill committed (\d+) batches", err)
    assert batches is not None
    assert int(batches[1]) >= 3
    assert out.count("Renamed by the demo at") == 3  # the three renames, as PostgreSQL now holds them
    assert "(deleted)" in out
    assert "run `make dev`, then open http://127.0.0.1:3000" in out
    assert (home / "dagster" / "dagster.yaml").exists()

    connect = re.search(r"it starts the same PostgreSQL\):\s+\S*psql '([^']+)'", out)
    schema = re.search(r"stripe_demo_\d{8}_\d{6}", out)
    assert connect is not None
    assert schema is not None
    assert re.search(rf"e\.g\. {schema[0]}\.\w+", out)  # table names, as dagster/table_name gives them
    with embedded_postgres(environ={HOME_ENV: str(home)}), psycopg.connect(connect[1]) as connection:
        query = sql.SQL("SELECT count(*) FROM {}.customer").format(sql.Identifier(schema[0]))
        (rows,) = connection.execute(query).fetchone() or (0,)
    assert rows > 0


@pytest.mark.slow
def test_demo_with_google_sheets_runs_the_sheets_family_and_reads_the_changes_from_the_tab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--destination google_sheets``: same steps, a spreadsheet on the local Sheets API, no key shown,
    and no link to a spreadsheet that is gone once the demo ends."""
    for name in ("DATABASE_URL", "STRIPE_API_KEY", "SYNC_PLATFORM_SECRET_KEY", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNC_PLATFORM_HOME", str(tmp_path / "home"))
    code, out, err = invoke("demo", "--objects", "300", "--destination", "google_sheets")
    assert code == 0, err[-3000:]
    assert "Stripe -> Google Sheets" in err
    assert "stripe_sheets_sync_job" in err  # the lifecycle sensor chose the Sheets family's job
    assert "Webhook changes, as Google Sheets holds them now" in out
    assert out.count("Renamed by the demo at") == 3  # the three renames, as the tab holds them now
    assert "(deleted)" in out
    assert "spreadsheet 'Stripe demo demo_" in out
    assert "is gone now that the demo has ended" in out
    assert "/spreadsheets/" not in out + err  # no dead link
    for secret in ("PRIVATE KEY", "private_key"):  # the generated service account's key
        assert secret not in out + err
    assert "SYNC_PLATFORM_SHEETS_SERVICE_ACCOUNT" not in os.environ  # the key left with the stack
