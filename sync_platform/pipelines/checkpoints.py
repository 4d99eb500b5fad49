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

import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from sync_platform.pipelines.errors import ConcurrentUpdateError, PipelineNotFoundError
from sync_platform.pipelines.tables import Tables
from sync_platform.protocol import SyncState


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


def state_jsonb(state: BaseModel | dict[str, Any] | None) -> Jsonb:
    """The state as a ``jsonb`` parameter, serialized without building intermediate dicts."""
    if isinstance(state, BaseModel):
        return Jsonb(state, dumps=_model_json)
    return Jsonb(state)


def _model_json(state: BaseModel) -> bytes | str:
    """A SyncState's streams are plain JSON values, and they are nearly all of it: a Connect
    platform's state holds an entry per account and stream (1,000 accounts x 10 streams: 1.3 MB).
    orjson writes those ~5x faster than pydantic, which infers the type of every value of an
    ``Any`` field (45 ms a save: a fifth of the client's CPU at 1,000 accounts); pydantic writes
    the typed rest (progress, times). A stream state orjson refuses (an integer beyond 64 bits,
    a non-string key) falls back to pydantic whole."""
    if isinstance(state, SyncState):
        head = state.model_dump(mode="json", by_alias=True, exclude={"source": {"streams"}})
        head["source"]["streams"] = state.source.streams
        with contextlib.suppress(TypeError):
            return orjson.dumps(head)
    return state.model_dump_json(by_alias=True)


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
    payload = state_jsonb(state)
    if expected_version is None or expected_version == 0:
        on_conflict = (
            "DO UPDATE SET state = EXCLUDED.state, version = {t}.version + 1, updated_at = now()"
            if expected_version is None
            else "DO NOTHING"
        )
        row = connection.execute(
            sql.SQL(
                "INSERT INTO {t} (pipeline_id, lane, state, version) "
                "SELECT id, %s, %s, 1 FROM {p} WHERE id = %s "
                "ON CONFLICT (pipeline_id, lane) " + on_conflict + " RETURNING version"
            ).format(t=tables.checkpoints, p=tables.pipelines),
            (lane.value, payload, pipeline_id),
        ).fetchone()
    else:
        row = connection.execute(
            sql.SQL(
                "UPDATE {} SET state = %s, version = version + 1, updated_at = now() "
                "WHERE pipeline_id = %s AND lane = %s AND version = %s RETURNING version"
            ).format(tables.checkpoints),
            (payload, pipeline_id, lane.value, expected_version),
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
