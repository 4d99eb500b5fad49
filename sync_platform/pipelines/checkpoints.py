"""Per-lane checkpoints of a pipeline: where the backfill resumes, and where the live lanes resume.

Each lane's state is its own row with its own version, apart from the pipeline row, so:

- a checkpoint write never touches the config or lifecycle columns, and never bumps the pipeline
  ``version`` — a user editing the pipeline while a backfill commits batches loses nothing and is
  not told to retry;
- the live lanes (webhook apply, events poll) never overwrite the backfill's position, which the
  reference did on every live call (reference bug #4);
- a writer that passes ``expected_version`` learns when someone else (a second run, a user's
  reset) wrote the lane since it read it. Versions only grow — a reset writes ``NULL`` state with
  a new version — so a stale writer cannot match a row that was reset and rewritten (no ABA).
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
import psycopg
import pydantic_core
from psycopg import sql
from psycopg.copy import LibpqWriter
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from sync_platform.pipelines.errors import ConcurrentUpdateError, PipelineNotFoundError
from sync_platform.pipelines.tables import Tables
from sync_platform.protocol import DeferredStateData, SyncState


class CheckpointLane(StrEnum):
    """``backfill``: where a backfill resumes; ``live``: the webhooks and events cursor.

    The reconcile lane writes neither: it replays recent events from a throwaway state.
    """

    BACKFILL = "backfill"
    LIVE = "live"


@dataclass(frozen=True)
class Checkpoint:
    """A lane's stored state; ``version`` 0 means the lane never wrote one."""

    pipeline_id: str
    lane: CheckpointLane
    state: dict[str, Any] | None
    version: int
    updated_at: datetime | None


def state_json(state: BaseModel | dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON form of a SyncState (or any engine state model, or an already-JSON dict)."""
    if state is None or isinstance(state, dict):
        return state
    return state.model_dump(mode="json", by_alias=True)


INLINE_STATE_BYTES = 2 * 1024 * 1024
"""A state whose JSON is at most this long is sent as a statement parameter, one round trip; a
longer one in pieces, five (BEGIN, the upload table, COPY, the statement, COMMIT). At 1,000 Connect
accounts (~1 MB) the extra round trips of ~2,000 saves cost more client CPU than the 2-4 MB send
buffer that libpq then keeps per pooled connection; at 10,000 (~11-21 MB) the buffer was 32 MB."""
_UPLOAD = sql.Identifier("pg_temp", "sync_platform_checkpoint_upload")
_AS_PARAMETER = (sql.SQL(""), sql.SQL("%s"))  # a save's WITH prefix and the state's expression
_FROM_UPLOAD = (
    sql.SQL("WITH upload AS (DELETE FROM {} RETURNING state) ").format(_UPLOAD),
    sql.SQL("(SELECT state::jsonb FROM upload)"),
)


def state_json_pieces(state: BaseModel | dict[str, Any] | None) -> Iterator[bytes]:
    """The state's JSON in pieces that join to the whole document: a SyncState's stream states one
    at a time, each made when it is needed, so no more than one stream's checkpoint is held as JSON.

    A Connect platform's state holds an entry per account and stream: at 10,000 accounts ~21 MB of
    JSON. Written as one ``bytes`` it was a 21 MB allocation per save, plus libpq's copy of it in
    a send buffer that grows to fit and is kept as long as the connection lives (32 MB on each
    pooled connection that ever saved it). orjson writes the stream states and the source's
    ``global`` state ~5x faster than pydantic, which infers the type of every value of an ``Any``
    field (45 ms a save at 1,000 accounts; a Connect platform's ``global`` names every account's
    creation time, and written by pydantic it cost as much CPU as every stream's checkpoint);
    pydantic writes the typed rest (progress, times), and any state orjson refuses (an integer
    beyond 64 bits, a non-string key), as it would inside the model.
    """
    if not isinstance(state, SyncState):
        yield (
            state.model_dump_json(by_alias=True).encode()
            if isinstance(state, BaseModel)
            else _value_json(state)
        )
        return
    head = state.model_dump(mode="json", by_alias=True, exclude={"source"})
    marker = f"source-{uuid.uuid4().hex}"  # unique: nothing else in the head can contain it
    head["source"] = marker
    before, after = orjson.dumps(head).split(orjson.dumps(marker))
    yield before + b'{"global":' + _value_json(state.source.global_) + b',"streams":{'
    for index, (name, value) in enumerate(state.source.streams.items()):
        yield (b"," if index else b"") + orjson.dumps(name) + b":" + _value_json(value)
    yield b"}}" + after


def _value_json(value: Any) -> bytes:
    if isinstance(value, DeferredStateData):  # the engine's fold keeps a Connect checkpoint unrendered
        value = value.render()
    try:
        return orjson.dumps(value)
    except TypeError:
        return pydantic_core.to_json(value)


_COPY_UPLOAD = sql.SQL("COPY {} (state) FROM STDIN").format(_UPLOAD)


def _flushing(cursor: psycopg.Cursor[Any]) -> LibpqWriter:
    """A COPY writer that waits for each block (psycopg's, up to 128 KB) to reach the server.

    psycopg's default waits only after 1 MiB, and libpq's send buffer grows to hold what has not
    gone yet: 1-2 MiB, kept as long as the connection lives, on every pooled connection that ever
    uploaded a state (glibc's bytes in use after three 3.6 MB saves: +1.0 MiB, +0.23 flushing
    each block; tested). At 10,000 Connect accounts every save uploads: replacing the store's
    two connections mid-run gave back 3.7 MiB. The waits cost little: a save of ~3 MB is ~25
    blocks."""
    return LibpqWriter(cursor, flush_threshold=0)


def _upload(connection: psycopg.Connection[Any], pieces: Iterable[bytes]) -> None:
    """Copy a big state's JSON, piece by piece, into the session's upload table: neither this
    process nor libpq ever holds the whole of it. The save's statement takes it out again
    (``DELETE ... RETURNING``), so a later save on the connection, even inside the same
    transaction (a live run commits its checkpoint with the events it applied), finds it empty."""
    connection.execute(sql.SQL("CREATE TEMPORARY TABLE IF NOT EXISTS {} (state text)").format(_UPLOAD))
    with connection.cursor() as cursor, cursor.copy(_COPY_UPLOAD, writer=_flushing(cursor)) as copy:
        for piece in pieces:
            # COPY's text format: a backslash starts an escape. JSON from orjson or pydantic has no
            # raw newline, tab or carriage return (strings escape them), so the row stays one field.
            copy.write(piece.replace(b"\\", b"\\\\"))


def load_checkpoint(
    connection: psycopg.Connection[Any], tables: Tables, pipeline_id: str, lane: CheckpointLane
) -> Checkpoint:
    row = connection.execute(
        sql.SQL("SELECT state, version, updated_at FROM {} WHERE pipeline_id = %s AND lane = %s").format(
            tables.checkpoints
        ),
        (pipeline_id, lane.value),
    ).fetchone()
    if row is None:
        return Checkpoint(pipeline_id, lane, None, 0, None)
    return Checkpoint(pipeline_id, lane, row["state"], int(row["version"]), row["updated_at"])


def checkpoints_updated_at(
    connection: psycopg.Connection[Any], tables: Tables, pipeline_id: str
) -> dict[CheckpointLane, datetime | None]:
    """When each lane last saved its checkpoint (``None``: never), without reading the states: a
    freshness check needs only this, and a Connect platform's state is megabytes."""
    rows = connection.execute(
        sql.SQL("SELECT lane, updated_at FROM {} WHERE pipeline_id = %s").format(tables.checkpoints),
        (pipeline_id,),
    ).fetchall()
    stamps: dict[CheckpointLane, datetime | None] = dict.fromkeys(CheckpointLane)
    stamps.update({CheckpointLane(row["lane"]): row["updated_at"] for row in rows})
    return stamps


def save_checkpoint(
    connection: psycopg.Connection[Any],
    tables: Tables,
    pipeline_id: str,
    state: BaseModel | dict[str, Any] | None,
    *,
    lane: CheckpointLane,
    expected_version: int | None,
) -> int:
    """Write ``state`` for ``lane`` and return the lane's new version.

    With ``expected_version`` (0 = "no checkpoint yet") the write only happens if the lane is still
    at that version; otherwise ``ConcurrentUpdateError``. Raises ``PipelineNotFoundError`` for an
    unknown pipeline.
    """
    pieces = state_json_pieces(state)
    head, big = _first_pieces(pieces)
    if not big:  # one statement, atomic on its own: no BEGIN and COMMIT round trips for a small state
        whole = Jsonb(b"".join(head), dumps=bytes)
        return _save(connection, tables, pipeline_id, _AS_PARAMETER, (whole,), lane, expected_version)
    with connection.transaction():
        _upload(connection, _drained(head, pieces))
        return _save(connection, tables, pipeline_id, _FROM_UPLOAD, (), lane, expected_version)


def _first_pieces(pieces: Iterator[bytes]) -> tuple[deque[bytes], bool]:
    """The state's first pieces, up to just past ``INLINE_STATE_BYTES``, and whether it is longer."""
    head: deque[bytes] = deque()
    size = 0
    for piece in pieces:
        head.append(piece)
        size += len(piece)
        if size > INLINE_STATE_BYTES:
            return head, True
    return head, False


def _drained(head: deque[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    """``head``'s pieces, each let go of as it is taken, then ``rest``: the upload holds one
    stream's JSON at a time, not the first ones (at 10,000 Connect accounts ~1 MB each) until it
    ends."""
    while head:
        yield head.popleft()
    yield from rest


def _save(
    connection: psycopg.Connection[Any],
    tables: Tables,
    pipeline_id: str,
    source: tuple[sql.Composable, sql.Composable],
    values: tuple[Any, ...],
    lane: CheckpointLane,
    expected_version: int | None,
) -> int:
    prefix, value = source
    if expected_version is None or expected_version == 0:
        on_conflict = (
            "DO UPDATE SET state = EXCLUDED.state, version = {t}.version + 1, updated_at = now()"
            if expected_version is None
            else "DO NOTHING"
        )
        row = connection.execute(
            prefix
            + sql.SQL(
                "INSERT INTO {t} (pipeline_id, lane, state, version) "
                "SELECT id, %s, {value}, 1 FROM {p} WHERE id = %s "
                "ON CONFLICT (pipeline_id, lane) " + on_conflict + " RETURNING version"
            ).format(t=tables.checkpoints, p=tables.pipelines, value=value),
            (lane.value, *values, pipeline_id),
        ).fetchone()
    else:
        row = connection.execute(
            prefix
            + sql.SQL(
                "UPDATE {t} SET state = {value}, version = version + 1, updated_at = now() "
                "WHERE pipeline_id = %s AND lane = %s AND version = %s RETURNING version"
            ).format(t=tables.checkpoints, value=value),
            (*values, pipeline_id, lane.value, expected_version),
        ).fetchone()
    if row is not None:
        return int(row["version"])
    exists = connection.execute(
        sql.SQL("SELECT 1 FROM {} WHERE id = %s").format(tables.pipelines), (pipeline_id,)
    ).fetchone()
    if exists is None:
        raise PipelineNotFoundError(pipeline_id)
    actual = load_checkpoint(connection, tables, pipeline_id, lane).version
    raise ConcurrentUpdateError(
        pipeline_id, expected=expected_version, actual=actual, what=f"{lane.value} checkpoint"
    )


def reset_checkpoints(
    connection: psycopg.Connection[Any], tables: Tables, pipeline_id: str, lanes: list[CheckpointLane]
) -> None:
    """Forget the state of ``lanes`` (the next run starts over), bumping their versions."""
    connection.execute(
        sql.SQL(
            "UPDATE {} SET state = NULL, version = version + 1, updated_at = now() "
            "WHERE pipeline_id = %s AND lane = ANY(%s) AND state IS NOT NULL"
        ).format(tables.checkpoints),
        (pipeline_id, [lane.value for lane in lanes]),
    )
