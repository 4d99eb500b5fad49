"""``StripeSource``: the connector the engine drives, dispatching each operation to its module.

``read`` picks the work per stream from ``ConfiguredStream.sync_mode``: ``full_refresh`` streams
are backfilled by listing (``backfill``), ``incremental`` streams are kept current from
``/v1/events`` (``incremental``), and pushed ``input`` (webhooks) is applied instead of either
(``push``). One client, hence one rate limit and one concurrency bound, serves the whole read.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any

from sync_platform.engine.clock import Clock, SystemClock
from sync_platform.engine.connectors import Config
from sync_platform.errors import failure_kind_of
from sync_platform.protocol import (
    CatalogPayload,
    ConfiguredCatalog,
    ConfiguredStream,
    ConnectionStatus,
    ConnectionStatusPayload,
    ConnectorSpecification,
    LogLevel,
    Message,
    SourceState,
    SyncMode,
    connection_status,
    log,
    stream_error,
    to_unix,
)
from sync_platform.sources.stripe import connect_departures
from sync_platform.sources.stripe.account_status import summarize as summarize_accounts
from sync_platform.sources.stripe.accounts import (
    ACCOUNT_ERRORS,
    ACCOUNT_PATH,
    KNOWN_ACCOUNTS,
    STRIPE_LAUNCH,
    account_errors,
    known_accounts,
    platform_account_id,
    resolve_accounts,
)
from sync_platform.sources.stripe.backfill import BackfillRunner
from sync_platform.sources.stripe.backfill_plan import plan_stream
from sync_platform.sources.stripe.backfill_state import STREAM_STATE_SCHEMA, SharedParts
from sync_platform.sources.stripe.catalog import (
    StripeStreamDefinition,
    UnknownStripeStreamError,
    catalog_payload,
    stream_by_name,
)
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.config import StripeSourceConfig, config_schema, parse_config
from sync_platform.sources.stripe.connect_backfill import backfill_joined
from sync_platform.sources.stripe.connect_changes import CONNECT_CHANGES, departed
from sync_platform.sources.stripe.discovery import coverage, discover_accounts, membership, run_ceiling
from sync_platform.sources.stripe.errors import StripeApiError
from sync_platform.sources.stripe.events import EVENTS_PATH
from sync_platform.sources.stripe.global_state import GlobalState
from sync_platform.sources.stripe.incremental import IncrementalRunner
from sync_platform.sources.stripe.poll_parking import POLL_PARKED, parked_accounts
from sync_platform.sources.stripe.poll_parking import after_replay as parks_after_replay
from sync_platform.sources.stripe.poll_scope import LIVE_SINCE, REPLAY, after_replay, poll_scope
from sync_platform.sources.stripe.push import apply_pushed
from sync_platform.sources.stripe.webhook_endpoint import setup_messages, teardown_messages

SOURCE_INPUT_SCHEMA: dict[str, Any] = {
    "description": "A Stripe event (verified at intake), or a raw webhook {body, headers} to verify.",
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "object": {"const": "event"},
                "id": {"type": "string"},
                "type": {"type": "string"},
                "created": {"type": "integer"},
                "data": {"type": "object"},
            },
            "required": ["id", "type", "created", "data"],
        },
        {
            "type": "object",
            "properties": {"body": {"type": "string"}, "headers": {"type": "object"}},
            "required": ["body", "headers"],
        },
    ],
}


EVENTS_CURSOR = "events_cursor"
REPLAY_WINDOW = timedelta(days=3)


class StripeSource:
    """Registered as ``stripe``. ``clock`` and ``rng`` are injectable so tests control time."""

    def __init__(self, *, clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.rng = rng

    def _client(self, config: StripeSourceConfig) -> StripeApiClient:
        return StripeApiClient(config, clock=self.clock, rng=self.rng)

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(
            config=config_schema(), source_state_stream=STREAM_STATE_SCHEMA, source_input=SOURCE_INPUT_SCHEMA
        )

    async def check(self, config: Config) -> ConnectionStatusPayload:
        """That the key works, for the platform and for every configured Connect account.

        Without ``account_id`` that is ``GET /v1/account``, the lookup every read will make. With
        it nothing needs looking up, so the key is proven by the cheapest request the sync itself
        makes, one event (``GET /v1/events?limit=1``): any secret key may read events, a restricted
        key needs to for the events poll and the reconcile lane, and a Stripe-compatible server
        without ``/v1/account`` passes. Stripe answers 401 to a refused key on any path.
        """
        parsed = parse_config(config)
        client = self._client(parsed)
        probe, params = (ACCOUNT_PATH, None) if parsed.account_id is None else (EVENTS_PATH, {"limit": 1})
        try:
            await client.get(probe, params)
            for account in parsed.listed_accounts:  # discovered accounts are proven by listing them
                await client.get(probe, params, account=account)
        except StripeApiError as error:
            return ConnectionStatusPayload(
                status=ConnectionStatus.FAILED, message=str(error), failure_kind=error.failure_kind
            )
        finally:
            await client.close()
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED)

    async def discover(self, config: Config) -> CatalogPayload:
        """The catalog, with ``_account_id`` narrowed to the synced accounts (one lookup without
        ``account_id``; raises ``StripeAuthError`` for a refused key)."""
        parsed = parse_config(config)
        account_id = parsed.account_id
        if account_id is None:
            client = self._client(parsed)
            try:
                account_id = await platform_account_id(client, parsed)
            finally:
                await client.close()
        if parsed.discovers_accounts:  # the set changes as accounts connect: `_account_id` stays open
            return catalog_payload(None)
        return catalog_payload([account_id, *parsed.listed_accounts])

    # --- offline hooks (engine.connectors): checked before a pipeline is stored --------------------

    def validate_config(self, config: Config) -> None:
        """The config model's own rules (the key's shape, no Connect account twice), as every
        operation applies them."""
        parse_config(config)

    def offline_catalog(self) -> CatalogPayload:
        """The SDK-derived catalog without ``discover``'s account lookup (``_account_id`` left open)."""
        return catalog_payload(None)

    async def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        client = self._client(parsed)
        try:
            async with aclosing(setup_messages(client, parsed, dict(config))) as messages:
                async for message in messages:
                    yield message
        finally:
            await client.close()

    # --- what the pipeline runner's live lanes need (engine.source_lanes) ----------------------

    def live_state(self, backfill: SourceState | None) -> SourceState | None:
        """Events are read from the cursor the backfill recorded when it began, so nothing that
        changed while it listed is missed (and webhooks are owed from then on: ``live_since``);
        None when the backfill never started."""
        cursor = (backfill.global_ if backfill is not None else {}).get(EVENTS_CURSOR)
        if cursor is None:
            return None
        return SourceState.model_validate({"global": {EVENTS_CURSOR: cursor, LIVE_SINCE: cursor}})

    def replay_state(self, now: datetime) -> SourceState:
        """Every event of the last ``REPLAY_WINDOW`` (Stripe keeps 30 days of events), of every
        account: ``replay`` widens the poll and notes what webhooks should have brought."""
        since = to_unix(now - REPLAY_WINDOW)
        return SourceState.model_validate({"global": {EVENTS_CURSOR: since, REPLAY: True}})

    def after_replay(self, live: SourceState, replayed: SourceState, now: datetime) -> SourceState | None:
        """The live state with the accounts whose changes no webhook brought flagged for the
        events poll (``poll_scope``) and the parked accounts the replay read again lifted or
        renewed (``poll_parking``); None when neither changes. The cursor never moves."""
        updated = after_replay(live.global_, replayed.global_, to_unix(now))
        parks = parks_after_replay(live.global_, replayed.global_)
        if parks is not None:
            updated = {**(updated or live.global_), POLL_PARKED: parks}
        return None if updated is None else live.model_copy(update={"global_": updated})

    def account_status(self, backfill: Any, live: Any) -> dict[str, Any] | None:
        """Each Connect account's status, read from the stored checkpoints (``account_status``)."""
        return summarize_accounts(backfill, live)

    # Connect accounts that left (``connect_departures``): the runner carries, purges, records.
    def with_account_changes(self, state: Any, live: Any) -> dict[str, Any] | None:
        return connect_departures.with_account_changes(state, live)

    def accounts_to_purge(self, config: Config, backfill: Any, live: Any) -> list[str]:
        return connect_departures.accounts_to_purge(parse_config(config), backfill, live)

    def forget_accounts(self, backfill: Any, live: Any, accounts: list[str]) -> dict[str, Any]:
        return connect_departures.forget_accounts(backfill, live, accounts)

    def listed_count(self, stream_state: Any) -> int | None:
        listed = stream_state.get("listed") if isinstance(stream_state, dict) else None
        return listed if isinstance(listed, int) else None

    async def teardown(self, config: Config) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        client = self._client(parsed)
        try:
            async with aclosing(teardown_messages(client, parsed)) as messages:
                async for message in messages:
                    yield message
        finally:
            await client.close()

    async def read(
        self,
        config: Config,
        catalog: ConfiguredCatalog,
        state: SourceState | None,
        input: AsyncIterable[Any] | None = None,
    ) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        client = self._client(parsed)
        reading = self._read(parsed, client, catalog, state, input)
        del state  # ``_read`` owns it: it lets each stream's stored state go once planned
        try:
            async with aclosing(reading) as messages:
                async for message in messages:
                    yield message
        finally:
            await client.close()

    async def _read(
        self,
        config: StripeSourceConfig,
        client: StripeApiClient,
        catalog: ConfiguredCatalog,
        state: SourceState | None,
        input: AsyncIterable[Any] | None,
    ) -> AsyncGenerator[Message, None]:
        selected: list[tuple[StripeStreamDefinition, ConfiguredStream]] = []
        for configured in catalog.streams:
            try:
                selected.append((stream_by_name(configured.name), configured))
            except UnknownStripeStreamError as error:
                yield stream_error(configured.name, str(error), failure_kind_of(error))
        global_state = GlobalState(state.global_ if state is not None else None)
        # Each backfilled stream's stored state is taken out once it is planned: a Connect
        # platform's are megabytes, and a plan keeps none of it (tagged_rendering).
        stored_streams = dict(state.streams) if state is not None else {}
        state = None
        discovery = None
        try:
            if input is not None:
                platform = await platform_account_id(client, config)
            else:
                known = known_accounts(global_state.get(KNOWN_ACCOUNTS))
                connected = config.listed_accounts
                if config.discovers_accounts:
                    discovery = await discover_accounts(client, config, global_state, run_ceiling(catalog))
                    connected, known = discovery.ids, {**known, **discovery.created}
                gone = departed(global_state.get(CONNECT_CHANGES))  # deauthorized: never asked again
                connected = [account for account in connected if account not in gone]
                # Parked by the poll (a revoked account refuses the lookup too): not looked up each
                # cycle; a poll needs no creation time, and a re-backfill starts such an account at 2011.
                parked = parked_accounts(global_state.get(POLL_PARKED))
                known = {**dict.fromkeys(parked, STRIPE_LAUNCH), **known}
                resolved = await resolve_accounts(
                    client, config, connected, known=known, max_concurrency=config.max_concurrency
                )
                accounts, warnings = resolved.accounts, resolved.warnings
        except StripeApiError as error:
            yield connection_status(False, str(error), error.failure_kind)
            return
        if input is not None:
            pushed = apply_pushed(
                input,
                client=client,
                secrets=config.webhook_secrets,
                selected={definition.name for definition, _ in selected},
                platform_account=platform,
                global_state=global_state,
                on_joined=lambda joined: backfill_joined(
                    client, config, joined, [c for _, c in selected], now=to_unix(self.clock.now())
                ),
                matches=membership(config),
                covers=coverage(config),
            )
            async with aclosing(pushed):
                async for message in pushed:
                    yield message
            return
        for warning in warnings:
            yield log(LogLevel.WARN, warning)
        updates: dict[str, Any] = {}
        if discovery is not None and discovery.listed:  # this run's account set, kept for its batches
            updates.update(discovery.checkpoint())
            resolved.learned.update(discovery.created)
        if resolved.learned:  # remembered, so no later batch looks these accounts up again
            updates[KNOWN_ACCOUNTS] = {**known_accounts(global_state.get(KNOWN_ACCOUNTS)), **resolved.learned}
        if updates:
            yield global_state.update(updates)
        # What found the accounts (the config's ids, their creation times by id, the lookups'
        # answers: ~0.7 MB at 10,000 accounts) is done with; this frame lives as long as the read.
        del known, connected, resolved, discovery, updates
        now = to_unix(self.clock.now())
        backfills = [item for item in selected if item[1].sync_mode is SyncMode.FULL_REFRESH]
        if backfills:
            if global_state.get(EVENTS_CURSOR) is None:  # changes from now on come as events
                yield global_state.update({EVENTS_CURSOR: now})
            plans = []
            shared = SharedParts()  # the pieces every stream of an account repeats, made once
            for definition, configured in backfills:
                plan, plan_warnings = plan_stream(
                    definition,
                    configured,
                    stored_streams.pop(definition.name, None),
                    accounts if config.reads_for_connected(definition.name) else accounts[:1],
                    now=now,
                    backfill_limit=config.backfill_limit,
                    tagged=len(accounts) > 1,
                    shared=shared,
                )
                for warning in plan_warnings:
                    yield log(LogLevel.WARN, warning, {"stream": definition.name})
                plans.append(plan)
            runner = BackfillRunner(client, plans, max_concurrency=config.max_concurrency)
            async with aclosing(runner.run()) as backfill:
                async for message in backfill:
                    yield message
            if runner.connection_failed:
                return
            if runner.account_failures or ACCOUNT_ERRORS in global_state:
                errors = account_errors(global_state.get(ACCOUNT_ERRORS), plans, runner.account_failures)
                yield global_state.update({ACCOUNT_ERRORS: errors})
            if len(accounts) > 1:  # the figure a Connect platform watches, in every run's log
                parked = len(set(global_state.get(ACCOUNT_ERRORS) or {}) & {a.id for a in accounts[1:]})
                healthy = len(accounts) - 1 - parked
                yield log(LogLevel.INFO, f"{healthy:,} of {len(accounts) - 1:,} connected accounts healthy.")
        updates = [item for item in selected if item[1].sync_mode is SyncMode.INCREMENTAL]
        if updates:
            scope = poll_scope(config, accounts, global_state, now)
            for warning in scope.warnings:
                yield log(LogLevel.WARN, warning)
            incremental = IncrementalRunner(
                client,
                updates,
                accounts=accounts,
                polled=scope.accounts,
                stored_streams=stored_streams,
                global_state=global_state,
                now=now,
                max_concurrency=config.max_concurrency,
                backfill_limit=config.backfill_limit,
            )
            async with aclosing(incremental.run()) as changes:
                async for message in changes:
                    yield message
