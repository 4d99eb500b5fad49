"""The emulator itself: data, keys, faults and webhooks, with the Python API tests drive it by.

``Emulator`` holds the state; ``app.create_app`` serves it over HTTP and ``server.run_emulator``
runs that app on a free local port. Every admin operation exists both here and under
``/_emulator/`` (``admin.py``), so tests in Python and scripts over HTTP can do the same things.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from typing import Any

from sync_platform.emulator.auth import KeyRing, new_test_key
from sync_platform.emulator.config import EmulatorConfig
from sync_platform.emulator.connect_events import authorize, deauthorize, update_account
from sync_platform.emulator.errors import EmulatorError
from sync_platform.emulator.faults import FaultConfig, FaultInjector
from sync_platform.emulator.generator import generate_dataset
from sync_platform.emulator.mutations import MutationResult, Mutator
from sync_platform.emulator.objects import dumps
from sync_platform.emulator.request_log import RequestLog
from sync_platform.emulator.seeding import build_store
from sync_platform.emulator.store import AccountData, EmulatorStore
from sync_platform.emulator.webhook_endpoints import create_endpoint, endpoints_for_event
from sync_platform.emulator.webhooks import DeliveryAttempt, DeliveryJob, WebhookDispatcher
from sync_platform.engine.clock import Clock, SystemClock

DEFAULT_DELIVERY_TIMEOUT = 30.0


class Emulator:
    """A stateful fake of the Stripe API's data, events and failure modes."""

    def __init__(self, config: EmulatorConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock: Clock = clock or SystemClock()
        self.keys = KeyRing([key.get_secret_value() for key in self.config.api_keys] or [new_test_key()])
        self.faults = FaultInjector(self.clock, self.config.faults)
        self.dataset = generate_dataset(self.config.dataset_config())
        self.dispatcher = WebhookDispatcher(self.clock, self.config.webhooks, self._delivered)
        self.rng = random.Random(f"emulator:{self.config.seed}")
        self.requests = RequestLog()
        self.store: EmulatorStore
        self.mutator: Mutator
        self._pinned_second: int | None = None
        self._load()

    def __repr__(self) -> str:  # keys stay out of reprs
        return f"Emulator(account_id={self.account_id!r}, seed={self.config.seed})"

    def _load(self) -> None:
        self.store = build_store(self.dataset)
        self.mutator = Mutator(self.store, now=self.now, sink=self._send_webhooks, seed=self.config.seed)

    # Identity -------------------------------------------------------------------------------------

    @property
    def secret_key(self) -> str:
        """The first accepted key (a fresh ``sk_test_…`` one unless keys were configured)."""
        return self.keys.keys[0]

    @property
    def account_id(self) -> str:
        return self.store.platform_account_id

    @property
    def connected_account_ids(self) -> list[str]:
        return [account_id for account_id in self.store.accounts if account_id != self.account_id]

    def now(self) -> int:
        """The emulator's time in whole seconds, as ``created``, ``updated`` and events carry it."""
        if self._pinned_second is not None:
            return self._pinned_second
        return int(self.clock.now().timestamp())

    # Time -----------------------------------------------------------------------------------------

    @property
    def pinned_second(self) -> int | None:
        return self._pinned_second

    def pin_second(self, second: int | None = None) -> int:
        """Hold the emulator's time at one second (the current one unless given) until
        ``unpin_second``: every change meanwhile carries that ``created``/``updated``, as Stripe's
        several changes of one object within a second do. Returns the second."""
        self._pinned_second = int(self.clock.now().timestamp()) if second is None else int(second)
        return self._pinned_second

    def unpin_second(self) -> None:
        """Let the emulator's time follow its clock again."""
        self._pinned_second = None

    @contextlib.contextmanager
    def same_second(self, second: int | None = None) -> Iterator[int]:
        """``with emulator.same_second() as second:`` every change inside happens in ``second``."""
        pinned = self.pin_second(second)
        try:
            yield pinned
        finally:
            self.unpin_second()

    # Data -----------------------------------------------------------------------------------------

    def create(
        self, stream: str, fields: Mapping[str, Any] | None = None, *, account_id: str | None = None,
        event_type: str | None = None,
    ) -> MutationResult:  # fmt: skip
        """Create an object (generated fields, overridden by ``fields``) and send ``<object>.created``."""
        return self.mutator.create(stream, fields or {}, account_id=account_id, event_type=event_type)

    def update(
        self, stream: str, object_id: str, fields: Mapping[str, Any], *, account_id: str | None = None,
        event_type: str | None = None,
    ) -> MutationResult:  # fmt: skip
        """Merge ``fields`` into an object, bump ``updated`` if it has one, and send ``<object>.updated``."""
        return self.mutator.update(stream, object_id, fields, account_id=account_id, event_type=event_type)

    def delete(
        self, stream: str, object_id: str, *, account_id: str | None = None, event_type: str | None = None
    ) -> MutationResult:
        """Delete an object (a tombstone remains) and send ``<object>.deleted``."""
        return self.mutator.delete(stream, object_id, account_id=account_id, event_type=event_type)

    def retrieve(
        self, stream: str, object_id: str, *, account_id: str | None = None
    ) -> dict[str, Any] | None:
        """The object as the API returns it (a tombstone once deleted), or None if it never existed."""
        with self.store.lock:
            account = self.store.account(account_id)
            table = self.store.table(account, stream)
            stored = table.objects.get(object_id)
            return None if stored is None else self.store.render(account, table, stored)

    def objects(self, stream: str, *, account_id: str | None = None) -> list[dict[str, Any]]:
        """Every live object of a stream, in API order (newest first)."""
        with self.store.lock:
            account = self.store.account(account_id)
            table = self.store.table(account, stream)
            return [
                self.store.render(account, table, table.objects[i]) for _, i in table.index.newest_first()
            ]

    @contextlib.contextmanager
    def unlisted_events(self) -> Iterator[None]:
        """Events recorded inside the block stay out of ``/v1/events`` lists until it ends, as
        Stripe makes an event listable a little after its second: a poll in between misses them
        and the next poll's overlap must find them. Webhooks are sent as usual."""
        with self.store.lock:
            logs = [account.events for account in self.store.accounts.loaded()]
            for log in logs:
                log.listing_held = True
        try:
            yield
        finally:
            with self.store.lock:
                for log in logs:
                    log.release_listing()

    def events(self, *, account_id: str | None = None) -> list[dict[str, Any]]:
        """Every event of an account, newest first."""
        with self.store.lock:
            log = self.store.account(account_id).events
            return [dict(log.events[i].data) for _, i in log.index.newest_first()]

    def reset(self) -> None:
        """Back to the generated data: mutations, events, endpoints, deliveries, faults, a pinned
        second and the request log are gone."""
        self.unpin_second()
        self.dispatcher.clear()
        self.faults.configure(self.config.faults)
        self.requests.clear()
        self._load()

    # Connect --------------------------------------------------------------------------------------

    def authorize_account(self, account_id: str | None = None) -> MutationResult:
        """A new connected account (or ``account_id`` again): ``account.application.authorized``."""
        return authorize(self.store, self.mutator, self.config.dataset_config(), account_id)

    def deauthorize_account(self, account_id: str) -> MutationResult:
        """Disconnect ``account_id``: ``account.application.deauthorized``, then 403 for its requests."""
        return deauthorize(self.store, self.mutator, account_id)

    def update_account(self, account_id: str, metadata: Mapping[str, Any]) -> MutationResult:
        """Change a connected account's metadata and send ``account.updated``."""
        return update_account(self.store, self.mutator, account_id, metadata)

    # Faults ---------------------------------------------------------------------------------------

    def set_faults(self, config: FaultConfig | None = None, **settings: Any) -> FaultConfig:
        """Replace the fault settings (``set_faults(error_ratio=0.1)``); no argument clears them."""
        if config is not None and settings:
            raise EmulatorError("Pass either a FaultConfig or keyword settings, not both.")
        new = config or FaultConfig.model_validate(settings)
        self.faults.configure(new)
        return new

    # Webhooks -------------------------------------------------------------------------------------

    def add_webhook_endpoint(
        self, url: str, *, enabled_events: tuple[str, ...] = ("*",), account_id: str | None = None,
        connect: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        """Register an endpoint as ``POST /v1/webhook_endpoints`` does; the result holds its ``secret``."""
        with self.store.lock:
            account = self.store.account(account_id)
            params = {"url": url, "enabled_events": list(enabled_events), "connect": str(connect).lower()}
            return create_endpoint(account, params, now=self.now(), rng=self.rng)

    @property
    def deliveries(self) -> list[DeliveryAttempt]:
        """Every delivery attempt so far, in the order they finished."""
        return list(self.dispatcher.attempts)

    def wait_for_deliveries(self, timeout: float = DEFAULT_DELIVERY_TIMEOUT) -> None:
        """Block until every queued webhook is delivered or has used up its retries."""
        if not self.dispatcher.wait(timeout):
            raise TimeoutError(
                f"Webhook deliveries still pending after {timeout} s; is the receiver answering?"
            )

    def _send_webhooks(self, account: AccountData, event: dict[str, Any]) -> int:
        platform = self.store.account(None)
        endpoints = endpoints_for_event(account, platform, str(event["type"]))
        if not endpoints:
            return 0
        payload = dumps({**event, "pending_webhooks": len(endpoints)})
        for endpoint in endpoints:
            self.dispatcher.submit(
                DeliveryJob(
                    event_id=str(event["id"]),
                    event_type=str(event["type"]),
                    account_id=account.account_id,
                    endpoint_id=str(endpoint["id"]),
                    url=str(endpoint["url"]),
                    secret=str(endpoint["secret"]),
                    payload=payload,
                )
            )
        return len(endpoints)

    def _delivered(self, job: DeliveryJob) -> None:
        with self.store.lock:
            account = self.store.accounts.get(job.account_id)
            if account is not None and job.event_id in account.events.events:
                pending = int(account.events.events[job.event_id].data["pending_webhooks"])
                account.events.set_pending_webhooks(job.event_id, pending - 1)
