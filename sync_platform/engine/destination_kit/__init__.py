"""The destination kit: what every destination must guarantee, written once.

- ``versions``: the version order (newer ``_updated_at`` wins, a tombstone beats an equal-or-older
  live version, a deterministic tie-break between equal times) and what applying a version does to
  an object's row or remembered tombstone (``decide``); also rendered as SQL for destinations that
  compare inside their database.
- ``fence``: the commit fence (``CommitFence``): a state is re-emitted only after every record
  before it is durable, a global state fences every stream, a failed stream reports one error and
  none of its later states.
- ``tombstones``: remembered deletes and the optional ``prune_tombstones`` hook.
- ``purge``: the optional ``purge_account`` hook (remove one account's rows).
- ``flush_report``: what a committed flush did (``FlushReport``), the one shape destinations report
  it in and Dagster reads it from.

A destination supplies only the storage: writing a batch of winning rows and deletes, and reading
and writing its remembered tombstones. ``sync_platform.engine.destination_kit.conformance`` is the
pytest suite that proves a destination keeps these rules (see docs/destinations/README.md); it is
not imported here, so the engine never needs pytest.
"""

from sync_platform.engine.destination_kit.fence import CommitFence, OnCommit, OnError
from sync_platform.engine.destination_kit.flush_report import COUNTS, FLUSH_KEY, FlushReport
from sync_platform.engine.destination_kit.purge import ACCOUNT_FIELD, PurgesAccounts, purge_account
from sync_platform.engine.destination_kit.tombstones import PrunesTombstones, prune_tombstones
from sync_platform.engine.destination_kit.versions import (
    MICROSECONDS,
    OLDEST,
    TOMBSTONE_DIGEST,
    Change,
    Version,
    VersionSql,
    canonical_json,
    decide,
    digest_of,
    is_tombstone,
    json_default,
    live_version,
    sql_beats,
    sql_newest_first,
    tombstone_version,
    version_of,
    version_time,
    winner,
)

__all__ = [
    "ACCOUNT_FIELD",
    "COUNTS",
    "FLUSH_KEY",
    "MICROSECONDS",
    "OLDEST",
    "TOMBSTONE_DIGEST",
    "Change",
    "CommitFence",
    "FlushReport",
    "OnCommit",
    "OnError",
    "PrunesTombstones",
    "PurgesAccounts",
    "Version",
    "VersionSql",
    "canonical_json",
    "decide",
    "digest_of",
    "is_tombstone",
    "json_default",
    "live_version",
    "prune_tombstones",
    "purge_account",
    "sql_beats",
    "sql_newest_first",
    "tombstone_version",
    "version_of",
    "version_time",
    "winner",
]
