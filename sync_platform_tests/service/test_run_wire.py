"""A streamed run's lines decode to the runner's events, so the remote CLI shows a run as a local one."""

from __future__ import annotations

import json
from typing import Any

from sync_platform.pipelines.runner import AccountsPurged, CheckpointSaved, Lane
from sync_platform.protocol import DeferredStateData, SourceState, SyncState, rendered_stream_states
from sync_platform.service.run_wire import decode, encode


def test_a_purge_of_departed_accounts_travels_and_reads_the_same() -> None:
    event = AccountsPurged(Lane.LIVE, {"acct_gone": 12, "acct_kept": None})
    assert decode(encode(event)) == event
    assert event.summary() == (
        "purged 12 row(s) of 1 deauthorized account(s) (acct_gone); "
        "the destination cannot purge an account's rows; kept those of acct_kept"
    )


class _Snapshot(DeferredStateData):
    """A Connect stream's checkpoint as the engine's fold keeps it (``DeferredStateData``)."""

    __slots__ = ()

    def render(self) -> dict[str, Any]:
        return {"listed": 3, "unread": ["acct_2"], "accounts": {"acct_1": 3}}


def test_a_saved_checkpoint_holding_a_snapshot_travels_as_its_rendering() -> None:
    """The runner hands on the engine's folded state as saved, where a Connect stream's checkpoint
    is a snapshot: the HTTP API streams it written out, and it reads back as plain data."""
    state = SyncState(source=SourceState(streams={"charge": _Snapshot(), "customer": {"offset": 2}}))
    line = encode(CheckpointSaved(Lane.BACKFILL, 3, state))

    assert json.loads(line)["run"]["state"]["source"]["streams"]["charge"] == _Snapshot().render()
    assert decode(line) == CheckpointSaved(Lane.BACKFILL, 3, rendered_stream_states(state))
