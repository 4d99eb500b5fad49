"""A streamed run's lines decode to the runner's events, so the remote CLI shows a run as a local one."""

from __future__ import annotations

from sync_platform.pipelines.runner import AccountsPurged, Lane
from sync_platform.service.run_wire import decode, encode


def test_a_purge_of_departed_accounts_travels_and_reads_the_same() -> None:
    event = AccountsPurged(Lane.LIVE, {"acct_gone": 12, "acct_kept": None})
    assert decode(encode(event)) == event
    assert event.summary() == (
        "purged 12 row(s) of 1 deauthorized account(s) (acct_gone); "
        "the destination cannot purge an account's rows; kept those of acct_kept"
    )
