"""Checkpoints: one per lane, written without touching the pipeline, conflicts detected by version."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from sync_platform.errors import FailureKind
from sync_platform.pipelines import (
    CheckpointLane,
    ConcurrentUpdateError,
    PipelineCreate,
    PipelineNotFoundError,
    PipelineStatus,
    PipelineStore,
    PipelineUpdate,
    StreamSelection,
    checkpoints,
)
from sync_platform.protocol import DeferredStateData, SourceState, SyncState, rendered_stream_states
from sync_platform_tests.plugins.postgres import PgTestDatabase

BACKFILL, LIVE = CheckpointLane.BACKFILL, CheckpointLane.LIVE
HOSTILE_TEXT = 'back\\slash \\N \\. "quoted"\ttab\nline\r\u00e9\u2603 \\u0041 end\\'


def backfill_state(offset: int) -> SyncState:
    return SyncState(source=SourceState(streams={"customer": {"offset": offset}}))


def events_state(cursor: str) -> SyncState:
    return SyncState.model_validate({"source": {"global": {"events_cursor": cursor}}})


@pytest.fixture
def pipeline_id(pipeline_store: PipelineStore) -> str:
    return pipeline_store.create(
        PipelineCreate.model_validate(
            {
                "id": "billing-sync",
                "source": {"type": "fixture", "fixture": {}},
                "destination": {"type": "null"},
            }
        )
    ).id


def test_a_saved_checkpoint_is_the_pipelines_sync_state(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    version = pipeline_store.save_checkpoint(pipeline_id, backfill_state(200))

    loaded = pipeline_store.get(pipeline_id)
    assert version == 1
    assert loaded.sync_state == backfill_state(200).model_dump(mode="json", by_alias=True)
    assert SyncState.model_validate(loaded.sync_state) == backfill_state(200)
    checkpoint = pipeline_store.get_checkpoint(pipeline_id)
    assert (checkpoint.version, checkpoint.state) == (1, loaded.sync_state)


def test_the_live_lane_never_overwrites_the_backfill_position(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """Reference bug #4: every live call replaced sync_state with a near-empty state."""
    pipeline_store.save_checkpoint(pipeline_id, backfill_state(300), lane=BACKFILL)
    pipeline_store.save_checkpoint(pipeline_id, events_state("evt_9"), lane=LIVE)
    pipeline_store.save_checkpoint(pipeline_id, events_state("evt_10"), lane=LIVE)

    loaded = pipeline_store.get(pipeline_id)
    assert SyncState.model_validate(loaded.sync_state).source.streams == {"customer": {"offset": 300}}
    assert SyncState.model_validate(loaded.live_state).source.global_ == {"events_cursor": "evt_10"}


def test_checkpoints_do_not_bump_the_pipeline_version_so_user_edits_do_not_conflict(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    seen_by_cli = pipeline_store.get(pipeline_id)
    for offset in (100, 200, 300):
        pipeline_store.save_checkpoint(pipeline_id, backfill_state(offset))

    edited = pipeline_store.update(
        pipeline_id,
        PipelineUpdate(streams=[StreamSelection(name="customer")]),
        expected_version=seen_by_cli.version,
    )
    assert edited.version == 2
    assert SyncState.model_validate(edited.sync_state) == backfill_state(300)  # the edit kept the checkpoint


def test_a_writer_with_a_stale_checkpoint_version_is_refused(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    first = pipeline_store.save_checkpoint(pipeline_id, backfill_state(100), expected_version=0)
    second = pipeline_store.save_checkpoint(pipeline_id, backfill_state(200), expected_version=first)

    with pytest.raises(
        ConcurrentUpdateError, match=r"backfill checkpoint was changed .*version 1, it is now 2"
    ):
        pipeline_store.save_checkpoint(pipeline_id, backfill_state(150), expected_version=first)
    with pytest.raises(ConcurrentUpdateError, match="version 0, it is now 2"):
        pipeline_store.save_checkpoint(pipeline_id, backfill_state(150), expected_version=0)
    assert second == 2
    assert SyncState.model_validate(pipeline_store.get(pipeline_id).sync_state) == backfill_state(200)


def test_a_reset_is_seen_by_the_run_that_read_before_it(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """Versions only grow: a run holding version 1 cannot write over a reset, even a re-saved one."""
    held = pipeline_store.save_checkpoint(pipeline_id, backfill_state(100))
    pipeline_store.save_checkpoint(pipeline_id, events_state("evt_1"), lane=LIVE)

    reset = pipeline_store.reset_checkpoints(pipeline_id)

    assert (reset.sync_state, reset.live_state) == (None, None)
    assert pipeline_store.get_checkpoint(pipeline_id).version == 2
    with pytest.raises(ConcurrentUpdateError):
        pipeline_store.save_checkpoint(pipeline_id, backfill_state(200), expected_version=held)


def test_resetting_one_lane_keeps_the_other(pipeline_store: PipelineStore, pipeline_id: str) -> None:
    pipeline_store.save_checkpoint(pipeline_id, backfill_state(100))
    pipeline_store.save_checkpoint(pipeline_id, events_state("evt_1"), lane=LIVE)

    reset = pipeline_store.reset_checkpoints(pipeline_id, [LIVE])

    assert reset.live_state is None
    assert reset.sync_state is not None


def test_a_checkpoint_for_an_unknown_pipeline_is_refused(pipeline_store: PipelineStore) -> None:
    with pytest.raises(PipelineNotFoundError, match="'ghost' not found"):
        pipeline_store.save_checkpoint("ghost", backfill_state(1))
    with pytest.raises(PipelineNotFoundError):
        pipeline_store.save_checkpoint("ghost", backfill_state(1), expected_version=3)


@pytest.mark.parametrize(
    "stream_state",
    [
        {
            "accounted_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2026-12-06T00:00:00Z"},
            "remaining": [{"account": "acct_2", "gte": "2024-01-01T00:00:00Z", "lt": "2025-01-01T00:00:00Z"}],
            "listed": 7,
            "accounts": {
                "acct_1": {"accounted_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2026-12-06T00:00:00Z"}},
                "acct_2": {"accounted_range": {"gte": "2024-03-01T00:00:00Z", "lt": "2026-12-06T00:00:00Z"}},
            },
        },
        {"offset": 2**70, "note": "an integer beyond 64 bits"},  # written by the slower, general path
        {"cursor": HOSTILE_TEXT, HOSTILE_TEXT: [HOSTILE_TEXT, None, 1.5]},
    ],
    ids=["connect", "big-integer", "hostile-text"],
)
@pytest.mark.parametrize("sent", ["as-a-parameter", "in-pieces"])
def test_a_saved_checkpoint_reads_back_exactly_as_the_state_it_was(
    pipeline_store: PipelineStore,
    pipeline_id: str,
    stream_state: dict[str, object],
    sent: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A big state is copied to the server in pieces (one stream's JSON at a time), a small one is
    a statement parameter; both store exactly the state."""
    if sent == "in-pieces":
        monkeypatch.setattr(checkpoints, "INLINE_STATE_BYTES", 0)
    state = SyncState.model_validate(
        {
            # the global state is written like a stream's (a Connect platform's names every account)
            "source": {
                "streams": {"customer": stream_state},
                "global": {"events_cursor": "evt_1", "of": stream_state},
            },
            "sync_run": {"run_id": "run-1", "time_ceiling": "2026-12-06T10:00:00Z"},
        }
    )
    pipeline_store.save_checkpoint(pipeline_id, state)

    stored = pipeline_store.get_checkpoint(pipeline_id).state
    assert stored == state.model_dump(mode="json", by_alias=True)
    assert SyncState.model_validate(stored) == state


class Snapshot(DeferredStateData):
    """A stream checkpoint as the engine's fold keeps a Connect one: written out when saved."""

    __slots__ = ("data", "renders")

    def __init__(self, data: dict[str, Any]) -> None:
        self.data, self.renders = data, 0

    def render(self) -> dict[str, Any]:
        self.renders += 1
        return json.loads(json.dumps(self.data))


@pytest.mark.parametrize("sent", ["as-a-parameter", "in-pieces"])
def test_a_state_holding_checkpoint_snapshots_is_saved_as_their_rendering(
    pipeline_store: PipelineStore, pipeline_id: str, sent: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine hands the checkpoint writer its folded state, in which a Connect stream's
    checkpoint is a snapshot (``DeferredStateData``); a save writes each one out, a stream at a time."""
    if sent == "in-pieces":
        monkeypatch.setattr(checkpoints, "INLINE_STATE_BYTES", 0)
    rendered = {"customer": {"listed": 3, "unread": ["acct_2"]}, "charge": {"listed": 0, HOSTILE_TEXT: 2**70}}
    snapshots = {name: Snapshot(data) for name, data in rendered.items()}
    state = SyncState(source=SourceState(streams={**snapshots, "invoice": {"offset": 4}}))

    pipeline_store.save_checkpoint(pipeline_id, state)

    assert {name: snapshot.renders for name, snapshot in snapshots.items()} == {"customer": 1, "charge": 1}
    stored = pipeline_store.get_checkpoint(pipeline_id).state
    assert stored["source"]["streams"] == {**rendered, "invoice": {"offset": 4}}
    assert stored == rendered_stream_states(state).model_dump(mode="json", by_alias=True)


def big_state(accounts: int, listed: int) -> SyncState:
    """A Connect-sized state: well over ``INLINE_STATE_BYTES`` of JSON in several streams."""
    window = {"gte": "2024-01-01T00:00:00Z", "lt": "2026-12-06T00:00:00Z"}
    entries = {f"acct_{i:016d}": {"accounted_range": window, "listed": listed} for i in range(accounts)}
    stream = {"accounted_range": window, "remaining": [], "listed": listed * accounts, "accounts": entries}
    return SyncState(source=SourceState(streams=dict.fromkeys(("charges", "customers", "invoices"), stream)))


def test_big_checkpoints_keep_their_version_checks_and_never_mix_with_an_earlier_upload(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """Saves bigger than ``INLINE_STATE_BYTES`` go through the session's upload table. Several on
    one connection and in one transaction (as a live run commits its checkpoint with its events)
    each store their own state, and a refused one changes nothing and leaves nothing behind."""
    states = [big_state(12_000, listed) for listed in (1, 2, 3, 4)]
    assert len(b"".join(checkpoints.state_json_pieces(states[0]))) > checkpoints.INLINE_STATE_BYTES

    with pipeline_store.transaction() as tx:
        version = tx.save_checkpoint(pipeline_id, states[0], expected_version=0)
        version = tx.save_checkpoint(pipeline_id, states[1], expected_version=version)
        with pytest.raises(ConcurrentUpdateError):
            tx.save_checkpoint(pipeline_id, states[2], expected_version=version - 1)
        with pytest.raises(PipelineNotFoundError):
            tx.save_checkpoint("ghost", states[2])
        assert SyncState.model_validate(tx.get_checkpoint(pipeline_id).state) == states[1]
        version = tx.save_checkpoint(pipeline_id, states[3], expected_version=version)

    stored = pipeline_store.get_checkpoint(pipeline_id)
    assert stored.version == version == 3
    assert SyncState.model_validate(stored.state) == states[3]


HELD_AFTER_UPLOADS = """
import ctypes, gc, json, sys
import psycopg
from psycopg.rows import dict_row
from sync_platform.pipelines import CheckpointLane, checkpoints
from sync_platform.pipelines.tables import Tables
from sync_platform_tests.pipelines.test_checkpoints import backfill_state, big_state

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def in_use_mib():
    gc.collect()
    info = libc.mallinfo2()
    return (info.uordblks + info.hblkhd) / 2**20

url, schema, pipeline_id = sys.argv[1:]
states = [big_state(12_000, listed) for listed in (1, 2, 3)]
tables = Tables(schema)
with psycopg.connect(url, autocommit=True, row_factory=dict_row) as connection:
    def save(state):
        checkpoints.save_checkpoint(
            connection, tables, pipeline_id, state, lane=CheckpointLane.BACKFILL, expected_version=None
        )
    save(backfill_state(1))
    before = in_use_mib()
    for state in states:
        save(state)
    print(json.dumps({"held_mib": in_use_mib() - before}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads glibc's allocation counts")
def test_uploading_a_big_checkpoint_leaves_its_connection_no_bigger(
    pg: PgTestDatabase, pipeline_id: str
) -> None:
    """libpq keeps a connection's send buffer at the most it ever held unsent, for the connection's
    life. The upload waits for each block to reach the server, so three ~3.6 MB saves leave the
    saving connection a quarter of a MiB bigger; waiting only every MiB (psycopg's default) left
    it 1-2 MiB bigger (1.0 here), on each of the store's pooled connections. Measured in a fresh
    interpreter (glibc's bytes in use), where nothing else allocates meanwhile."""
    done = subprocess.run(
        [sys.executable, "-c", HELD_AFTER_UPLOADS, pg.url, pg.schema, pipeline_id],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    held = json.loads(done.stdout)["held_mib"]
    assert held < 0.5, f"the saving connection kept {held:.2f} MiB after three big uploads"


def test_a_pipeline_read_without_checkpoints_leaves_them_out_and_is_otherwise_the_same(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """The runner reads this between batches: a Connect platform's checkpoint is megabytes."""
    pipeline_store.save_checkpoint(pipeline_id, backfill_state(300), lane=BACKFILL)
    pipeline_store.save_checkpoint(pipeline_id, events_state("evt_9"), lane=LIVE)

    light = pipeline_store.get_without_checkpoints(pipeline_id)

    full = pipeline_store.get(pipeline_id)
    assert (light.sync_state, light.live_state) == (None, None)
    assert full.sync_state is not None
    assert light == full.model_copy(update={"sync_state": None, "live_state": None})
    with pytest.raises(PipelineNotFoundError):
        pipeline_store.get_without_checkpoints("no-such-pipeline")


def test_pipelines_listed_without_checkpoints_leave_them_out(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """What the Dagster sensors list every few seconds: statuses and configs, not megabytes of state."""
    pipeline_store.save_checkpoint(pipeline_id, backfill_state(300), lane=BACKFILL)

    [light] = pipeline_store.list_pipelines(checkpoints=False)
    [full] = pipeline_store.list_pipelines()

    assert full.sync_state is not None
    assert light == full.model_copy(update={"sync_state": None, "live_state": None})


def test_when_each_lane_last_saved_is_read_without_its_state(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    assert pipeline_store.checkpoints_updated_at(pipeline_id) == {BACKFILL: None, LIVE: None}

    pipeline_store.save_checkpoint(pipeline_id, backfill_state(300), lane=BACKFILL)

    stamps = pipeline_store.checkpoints_updated_at(pipeline_id)
    assert stamps == {BACKFILL: pipeline_store.get_checkpoint(pipeline_id, BACKFILL).updated_at, LIVE: None}
    assert stamps[BACKFILL] is not None


class _QueryLog:
    """A store connection that records the SQL it is given (the store's own connection underneath)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self.queries: list[str] = []

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.as_string(self._connection) if hasattr(query, "as_string") else str(query)
        self.queries.append(text)
        return self._connection.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def test_a_status_change_reads_no_checkpoint_and_answers_the_pipeline_row(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """The runner moves a pipeline to ``ready`` after its backfill: a Connect platform's backfill
    checkpoint is 21 MB of JSON at 10,000 accounts, which reading it for that set the run's peak."""
    pipeline_store.save_checkpoint(pipeline_id, backfill_state(300), lane=BACKFILL)
    pipeline_store.save_checkpoint(pipeline_id, events_state("evt_9"), lane=LIVE)
    checkpoints = pipeline_store.tables.checkpoints.as_string(None)

    with pipeline_store.transaction() as tx:
        log = _QueryLog(tx.connection)
        tx.connection = log  # type: ignore[assignment]  # records, then passes every call through
        moved = tx.set_status(pipeline_id, PipelineStatus.BACKFILL)
        failed = tx.record_failure(pipeline_id, kind=FailureKind.TRANSIENT, message="timed out")
        recovered = tx.record_success(pipeline_id)
        changes = list(log.queries)
        tx.get(pipeline_id)  # the log sees a read of them: the whole pipeline's

    assert changes
    assert not [query for query in changes if checkpoints in query]
    assert checkpoints in log.queries[-1]
    assert (moved.status, failed.status, recovered.status) == (
        PipelineStatus.BACKFILL, PipelineStatus.ERROR, PipelineStatus.BACKFILL,
    )  # fmt: skip
    assert [(p.sync_state, p.live_state) for p in (moved, failed, recovered)] == [(None, None)] * 3
    full = pipeline_store.get(pipeline_id)
    assert recovered == full.model_copy(update={"sync_state": None, "live_state": None})
    assert full.sync_state is not None
    assert full.live_state is not None


def test_a_users_change_still_answers_the_whole_pipeline(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """``pipelines pause``/``update`` and the API's PATCH and DELETE show the pipeline whole."""
    pipeline_store.save_checkpoint(pipeline_id, backfill_state(300), lane=BACKFILL)

    paused = pipeline_store.pause(pipeline_id)
    renamed = pipeline_store.update(pipeline_id, PipelineUpdate(streams=[StreamSelection(name="customer")]))

    assert paused.sync_state == pipeline_store.get_checkpoint(pipeline_id).state
    assert renamed == pipeline_store.get(pipeline_id)
