"""One unit of work on the pipeline store: every read and write, inside one database transaction.

``PipelineStore.transaction()`` hands out a ``StoreTransaction``; everything done through it
commits together or not at all. That is what lets a live run claim inbox events, apply them,
save its checkpoint and mark the events processed atomically: a crash in between leaves the events
pending and the checkpoint where it was, so the retry sees exactly what the failed run saw.

Writes to the pipeline row are optimistic read-modify-writes: read the row, apply a pure lifecycle
rule, ``UPDATE ... WHERE version = <read version>``. Losing the race re-reads and re-applies (the
rules are re-checked against the winner's row), unless the caller pinned ``expected_version``,
which then raises ``ConcurrentUpdateError``. Keep status writes in their own short transactions:
a unit of work that writes the pipeline row holds its row lock until it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from sync_platform.errors import FailureKind
from sync_platform.pipelines import checkpoints as _checkpoints
from sync_platform.pipelines import lifecycle
from sync_platform.pipelines.admission import admit, check_streams
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.errors import (
    ConcurrentUpdateError,
    PipelineExistsError,
    PipelineNotFoundError,
    TransitionError,
)
from sync_platform.pipelines.inbox_transaction import InboxTransaction
from sync_platform.pipelines.lifecycle import Lifecycle
from sync_platform.pipelines.model import Pipeline, PipelineCreate, PipelineUpdate, generate_pipeline_id
from sync_platform.pipelines.states import DesiredStatus, PipelineError, PipelineStatus
from sync_platform.protocol import (
    ConnectorConfig,
    ControlMessage,
    DestinationConfigControl,
    SourceConfigControl,
    utc_now,
)

logger = logging.getLogger(__name__)

MAX_WRITE_ATTEMPTS = 8
"""Lost races a read-modify-write retries before giving up with ``ConcurrentUpdateError``."""

_COLUMNS = (
    "source",
    "destination",
    "streams",
    "desired_status",
    "status",
    "resume_status",
    "error",
    "consecutive_failures",
)

Change = Callable[[Pipeline], Pipeline]
ControlInput = ControlMessage | SourceConfigControl | DestinationConfigControl


def _with_lifecycle(pipeline: Pipeline, state: Lifecycle, **updates: Any) -> Pipeline:
    return pipeline.model_copy(
        update={
            "desired_status": state.desired_status,
            "status": state.status,
            "error": state.error,
            "resume_status": state.resume_status,
            "torn_down_at": pipeline.torn_down_at if state.torn_down else None,
            **updates,
        }
    )


def _column_values(pipeline: Pipeline) -> list[Any]:
    return [
        Jsonb(pipeline.source.model_dump()),
        Jsonb(pipeline.destination.model_dump()),
        None
        if pipeline.streams is None
        else Jsonb([s.model_dump(exclude_none=True) for s in pipeline.streams]),
        pipeline.desired_status.value,
        pipeline.status.value,
        None if pipeline.resume_status is None else pipeline.resume_status.value,
        None if pipeline.error is None else Jsonb(pipeline.error.model_dump(mode="json")),
        pipeline.consecutive_failures,
    ]


class StoreTransaction(InboxTransaction):
    """Reads and writes of pipelines, checkpoints and inbox events on one open transaction."""

    # --- reading --------------------------------------------------------------------------------

    def _select(self, source: sql.Composable, *, checkpoints: bool = True) -> sql.Composed:
        """Pipeline rows from ``source`` (a table or CTE named ``p``) with both lanes' states, or
        with ``NULL`` in their place (``checkpoints=False``: see ``get_without_checkpoints``)."""
        if not checkpoints:
            return sql.SQL("SELECT p.*, NULL::jsonb AS sync_state, NULL::jsonb AS live_state FROM {}").format(
                source
            )
        return sql.SQL(
            "SELECT p.*, b.state AS sync_state, l.state AS live_state FROM {source} "
            "LEFT JOIN {ck} b ON b.pipeline_id = p.id AND b.lane = 'backfill' "
            "LEFT JOIN {ck} l ON l.pipeline_id = p.id AND l.lane = 'live'"
        ).format(source=source, ck=self.tables.checkpoints)

    def find(self, pipeline_id: str, *, checkpoints: bool = True) -> Pipeline | None:
        query = self._select(sql.SQL("{} p").format(self.tables.pipelines), checkpoints=checkpoints)
        row = self.connection.execute(query + sql.SQL(" WHERE p.id = %s"), (pipeline_id,)).fetchone()
        return None if row is None else Pipeline.model_validate(row)

    def get_without_checkpoints(self, pipeline_id: str) -> Pipeline:
        """The pipeline with ``sync_state`` and ``live_state`` left ``None``, unread: for a caller
        that needs its config and statuses only, between batches. A Connect platform's backfill
        checkpoint holds an entry per account and stream (21 MB of JSON at 10,000 accounts), which
        every such read moved, parsed and kept alive for a whole batch."""
        pipeline = self.find(pipeline_id, checkpoints=False)
        if pipeline is None:
            raise PipelineNotFoundError(pipeline_id)
        return pipeline

    def get(self, pipeline_id: str) -> Pipeline:
        pipeline = self.find(pipeline_id)
        if pipeline is None:
            raise PipelineNotFoundError(pipeline_id)
        return pipeline

    def list_pipelines(self, *, include_deleted: bool = False, checkpoints: bool = True) -> list[Pipeline]:
        """Every pipeline, oldest first; deleted ones only when asked; without their checkpoints
        (``sync_state``, ``live_state``: ``None``) for a caller that decides from statuses and
        configs (the Dagster sensors, every few seconds)."""
        query = self._select(sql.SQL("{} p").format(self.tables.pipelines), checkpoints=checkpoints)
        if not include_deleted:
            query += sql.SQL(" WHERE p.desired_status <> 'deleted'")
        rows = self.connection.execute(query + sql.SQL(" ORDER BY p.created_at, p.id")).fetchall()
        return [Pipeline.model_validate(row) for row in rows]

    # --- writing the pipeline row ---------------------------------------------------------------

    def create(self, request: PipelineCreate) -> Pipeline:
        """Store a new pipeline in status ``setup`` once it passes every offline check (``admission``);
        its secrets are sealed."""
        pipeline_id = request.id or generate_pipeline_id()
        source, destination = admit(self.configs, request)
        streams = (
            None if request.streams is None else [s.model_dump(exclude_none=True) for s in request.streams]
        )
        insert = sql.SQL(
            "INSERT INTO {} (id, source, destination, streams, desired_status, status) "
            "VALUES (%s, %s, %s, %s, %s, 'setup') ON CONFLICT (id) DO NOTHING RETURNING *"
        ).format(self.tables.pipelines)
        query = sql.SQL("WITH p AS ({}) ").format(insert) + self._select(sql.SQL("p"))
        row = self.connection.execute(
            query,
            (
                pipeline_id,
                Jsonb(source.model_dump()),
                Jsonb(destination.model_dump()),
                None if streams is None else Jsonb(streams),
                request.desired_status.value,
            ),
        ).fetchone()
        if row is None:
            existing = self.find(pipeline_id)
            raise PipelineExistsError(
                pipeline_id, deleted=existing is not None and existing.desired_status is DesiredStatus.DELETED
            )
        logger.info("created pipeline %s", pipeline_id, extra={"pipeline_id": pipeline_id})
        return Pipeline.model_validate(row)

    def _write(self, before: Pipeline, after: Pipeline, *, checkpoints: bool) -> Pipeline | None:
        """``after`` written over ``before`` if nobody wrote since (returned with its checkpoints
        when asked); None when we lost the race."""
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in _COLUMNS
        )
        update = sql.SQL(
            "UPDATE {} SET {}, torn_down_at = CASE WHEN %s THEN coalesce(torn_down_at, now()) END, "
            "version = version + 1, updated_at = now() WHERE id = %s AND version = %s RETURNING *"
        ).format(self.tables.pipelines, assignments)
        written = self._select(sql.SQL("p"), checkpoints=checkpoints)
        query = sql.SQL("WITH p AS ({}) ").format(update) + written
        params = [*_column_values(after), after.torn_down_at is not None, before.id, before.version]
        row = self.connection.execute(query, params).fetchone()
        return None if row is None else Pipeline.model_validate(row)

    def modify(
        self,
        pipeline_id: str,
        change: Change,
        *,
        expected_version: int | None = None,
        checkpoints: bool = False,
    ) -> Pipeline:
        """Apply ``change`` (a pure function of the current pipeline) as an optimistic write.

        A change that returns the pipeline unchanged writes nothing (no version bump). Losing a
        race re-reads and re-applies ``change``, up to ``MAX_WRITE_ATTEMPTS`` times; with
        ``expected_version`` any difference raises ``ConcurrentUpdateError`` instead.

        A change sees, and the answer carries, the pipeline row only (``sync_state`` and
        ``live_state`` ``None``, unread: no change reads or writes them, they live in their own
        table) unless ``checkpoints``: for a caller that shows the answer whole (a user's update).
        The runner's status moves need the row only, and reading a Connect platform's backfill
        checkpoint (21 MB of JSON at 10,000 accounts) to move it to ``ready`` set its run's peak.
        """
        current = self._current(pipeline_id, checkpoints=checkpoints)
        for _attempt in range(MAX_WRITE_ATTEMPTS):
            if expected_version is not None and current.version != expected_version:
                raise ConcurrentUpdateError(
                    pipeline_id, expected=expected_version, actual=current.version, what="pipeline"
                )
            updated = change(current)
            if updated == current:
                return current
            written = self._write(current, updated, checkpoints=checkpoints)
            if written is not None:
                return written
            # Lost the race. In READ COMMITTED the next statement sees the winner's commit.
            logger.debug(
                "pipeline %s changed under a write; retrying", pipeline_id, extra={"pipeline_id": pipeline_id}
            )
            current = self._current(pipeline_id, checkpoints=checkpoints)
        raise ConcurrentUpdateError(pipeline_id, expected=current.version, actual=None, what="pipeline")

    def _current(self, pipeline_id: str, *, checkpoints: bool) -> Pipeline:
        return self.get(pipeline_id) if checkpoints else self.get_without_checkpoints(pipeline_id)

    def update(
        self, pipeline_id: str, change: PipelineUpdate, *, expected_version: int | None = None
    ) -> Pipeline:
        """Apply a user's partial change: configs (re-validated, secrets sealed), streams, intent.
        Answers the whole pipeline, checkpoints included (the CLI and the API show it)."""

        def apply(current: Pipeline) -> Pipeline:
            state = current.lifecycle
            if change.changes_config:
                state = lifecycle.change_config(pipeline_id, state)
            if change.desired_status is not None:
                state = lifecycle.change_desired_status(pipeline_id, state, change.desired_status)
            updates: dict[str, Any] = {}
            if change.source is not None:
                updates["source"] = self.configs.prepare("source", change.source, current.source)
            if change.destination is not None:
                updates["destination"] = self.configs.prepare(
                    "destination", change.destination, current.destination
                )
            if "streams" in change.model_fields_set:
                updates["streams"] = change.streams
            source_type = updates["source"].type if "source" in updates else current.source.type
            if "streams" in change.model_fields_set or source_type != current.source.type:
                # a new selection, or a new source whose catalog the kept selection must fit
                check_streams(self.configs.registry, source_type, updates.get("streams", current.streams))
            if current.error is not None and state.error is None:
                updates["consecutive_failures"] = 0  # the user's resume or fix: a fresh retry budget
            return _with_lifecycle(current, state, **updates)

        return self.modify(pipeline_id, apply, expected_version=expected_version, checkpoints=True)

    def set_desired_status(
        self, pipeline_id: str, desired: DesiredStatus, *, expected_version: int | None = None
    ) -> Pipeline:
        return self.update(
            pipeline_id, PipelineUpdate(desired_status=desired), expected_version=expected_version
        )

    def set_status(
        self, pipeline_id: str, status: PipelineStatus, error: PipelineError | None = None
    ) -> Pipeline:
        """The platform reports what it is doing; the lifecycle table decides if that is allowed."""
        return self.modify(
            pipeline_id,
            lambda current: _with_lifecycle(
                current, lifecycle.change_status(pipeline_id, current.lifecycle, status, error)
            ),
        )

    def mark_torn_down(self, pipeline_id: str) -> Pipeline:
        """Record that teardown succeeded; the pipeline then shows as ``deleted`` and may be purged."""

        def apply(current: Pipeline) -> Pipeline:
            if current.torn_down_at is not None:
                return current
            state = lifecycle.mark_torn_down(pipeline_id, current.lifecycle)
            # Any non-None value marks it; the database stamps its own now() on write.
            return _with_lifecycle(current, state, torn_down_at=utc_now())

        return self.modify(pipeline_id, apply)

    def apply_control(self, pipeline_id: str, control: ControlInput) -> Pipeline:
        """Persist a connector's replacement config (``control`` message) wholesale, secrets sealed.

        Setup returns e.g. Stripe's new ``webhook_secret`` or a new ``spreadsheet_id``: the whole
        config is replaced (never merged), plaintext secrets are encrypted, and a secret whose value
        is unchanged keeps its stored form, so an ``{"env": ...}`` reference is not turned into a
        copy. Allowed in any lifecycle state: it records what the connector did, so only the JSON
        schema is checked (refusing it would forget what setup created, such as a webhook endpoint).
        """
        payload = control.control if isinstance(control, ControlMessage) else control

        def apply(current: Pipeline) -> Pipeline:
            if isinstance(payload, SourceConfigControl):
                incoming = ConnectorConfig(type=current.source.type, config=payload.source_config)
                prepared = self.configs.prepare("source", incoming, current.source, connector_rules=False)
                return current.model_copy(update={"source": prepared})
            incoming = ConnectorConfig(type=current.destination.type, config=payload.destination_config)
            prepared = self.configs.prepare(
                "destination", incoming, current.destination, connector_rules=False
            )
            return current.model_copy(update={"destination": prepared})

        return self.modify(pipeline_id, apply)

    def purge(self, pipeline_id: str, *, force: bool = False) -> bool:
        """Hard-delete a pipeline with its checkpoints and inbox; False if it did not exist.

        Only a torn-down pipeline is purged unless ``force``: purging earlier leaks what setup
        created (tables, a spreadsheet, a Stripe webhook endpoint — reference bug #9).
        """
        current = self.find(pipeline_id)
        if current is None:
            return False
        if current.torn_down_at is None and not force:
            raise TransitionError(
                f"Pipeline {pipeline_id!r} has not been torn down yet, so purging it would leak what its "
                "setup created. Delete it and wait for teardown, or purge with force=True.",
                pipeline_id=pipeline_id,
                current=current.status,
                requested="purged",
            )
        self.connection.execute(
            sql.SQL("DELETE FROM {} WHERE id = %s").format(self.tables.pipelines), (pipeline_id,)
        )
        logger.info("purged pipeline %s", pipeline_id, extra={"pipeline_id": pipeline_id})
        return True

    # --- run outcomes (written by the pipeline runner) ---------------------------------------

    def record_failure(
        self,
        pipeline_id: str,
        *,
        kind: FailureKind,
        message: str,
        stream: str | None = None,
        lane: str | None = None,
        run: str | None = None,
    ) -> Pipeline:
        """Status ``error`` with this failure; ``attempts`` counts it among the failures in a row."""

        def apply(current: Pipeline) -> Pipeline:
            attempts = current.consecutive_failures + 1
            error = PipelineError(
                kind=kind,
                message=message,
                stream=stream,
                lane=lane,
                run=run,
                attempts=attempts,
                occurred_at=utc_now(),
            )
            state = lifecycle.change_status(pipeline_id, current.lifecycle, PipelineStatus.ERROR, error)
            return _with_lifecycle(current, state, consecutive_failures=attempts)

        return self.modify(pipeline_id, apply)

    def record_success(self, pipeline_id: str) -> Pipeline:
        """A lane finished without failing: the failure count restarts, and a retried (not parked)
        error gives way to the working status it interrupted."""

        def apply(current: Pipeline) -> Pipeline:
            state = current.lifecycle
            error = current.error if current.status is PipelineStatus.ERROR else None
            if error is not None and not error.parked and state.desired_status is not DesiredStatus.DELETED:
                state = lifecycle.change_status(pipeline_id, state, lifecycle.resume_target(state))
            return _with_lifecycle(current, state, consecutive_failures=0)

        return self.modify(pipeline_id, apply)

    # --- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(
        self,
        pipeline_id: str,
        sync_state: BaseModel | dict[str, Any] | None,
        *,
        lane: CheckpointLane = CheckpointLane.BACKFILL,
        expected_version: int | None = None,
    ) -> int:
        """Commit a lane's state (only that: no other column is touched); returns its new version."""
        return _checkpoints.save_checkpoint(
            self.connection,
            self.tables,
            pipeline_id,
            sync_state,
            lane=lane,
            expected_version=expected_version,
        )

    def get_checkpoint(self, pipeline_id: str, lane: CheckpointLane = CheckpointLane.BACKFILL) -> Checkpoint:
        return _checkpoints.load_checkpoint(self.connection, self.tables, pipeline_id, lane)

    def checkpoints_updated_at(self, pipeline_id: str) -> dict[CheckpointLane, datetime | None]:
        return _checkpoints.checkpoints_updated_at(self.connection, self.tables, pipeline_id)

    def reset_checkpoints(self, pipeline_id: str, lanes: list[CheckpointLane] | None = None) -> Pipeline:
        """The user's "start over": forget the lanes' states (all by default). Refused once deleted."""
        current = self.get(pipeline_id)
        lifecycle.change_config(pipeline_id, current.lifecycle)
        _checkpoints.reset_checkpoints(
            self.connection, self.tables, pipeline_id, lanes or list(CheckpointLane)
        )
        return self.get(pipeline_id)
