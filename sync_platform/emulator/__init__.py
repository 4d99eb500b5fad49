"""An offline, stateful emulator of the parts of the Stripe API the sync uses.

It serves every stream of the source catalog with Stripe's list semantics, events, signed
webhooks, Connect accounts and injectable failures, for the demo, local development, tests and
benchmarks. Start one with ``run_emulator()`` (tests) or ``sync-platform emulator serve``.
"""

from sync_platform.emulator.app import create_app
from sync_platform.emulator.config import EmulatorConfig
from sync_platform.emulator.emulator import Emulator
from sync_platform.emulator.errors import ApiError, EmulatorError
from sync_platform.emulator.faults import FaultConfig, ScriptedFailure
from sync_platform.emulator.generator import DatasetConfig, generate_dataset, plan_counts
from sync_platform.emulator.mutations import MutationResult
from sync_platform.emulator.request_log import LoggedRequest, RequestLog, max_in_window
from sync_platform.emulator.server import RunningEmulator, run_emulator, serve
from sync_platform.emulator.webhooks import DeliveryAttempt, RetryPolicy, signature_header

__all__ = [
    "ApiError",
    "DatasetConfig",
    "DeliveryAttempt",
    "Emulator",
    "EmulatorConfig",
    "EmulatorError",
    "FaultConfig",
    "LoggedRequest",
    "MutationResult",
    "RequestLog",
    "RetryPolicy",
    "RunningEmulator",
    "ScriptedFailure",
    "create_app",
    "generate_dataset",
    "max_in_window",
    "plan_counts",
    "run_emulator",
    "serve",
    "signature_header",
]
