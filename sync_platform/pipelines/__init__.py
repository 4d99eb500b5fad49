"""Pipelines: the model, the lifecycle rules, and the store in the app PostgreSQL (plain Python).

``Pipeline`` is what users create and the platform runs; ``lifecycle`` holds the pure rules
(allowed changes, display status, ``lanes``); ``PipelineStore`` persists pipelines, their
checkpoints and the webhook inbox. Secrets in connector configs are stored as env references or
encrypted, and masked in every output. No Dagster and no HTTP here: ``defs``, ``webhooks`` and
``cli`` build on this package.
"""

from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.connector_configs import WEBHOOK_SECRET_FIELD, ConnectorConfigs
from sync_platform.pipelines.errors import (
    ConcurrentUpdateError,
    MissingEnvSecretError,
    MissingSecretKeyError,
    PipelineExistsError,
    PipelineNotFoundError,
    SecretDecryptionError,
    SecretError,
    TransitionError,
)
from sync_platform.pipelines.inbox import InboxEvent, InboxRef, InboxSummary
from sync_platform.pipelines.lifecycle import (
    PLATFORM_TRANSITIONS,
    USER_CHANGES,
    Lanes,
    Lifecycle,
    LiveIntake,
    display_status,
    lanes,
    lanes_for,
    live_intake,
    platform_transition_allowed,
    resume_target,
    target_status,
)
from sync_platform.pipelines.masking import mask_config
from sync_platform.pipelines.migrations import MIGRATIONS, Migration, MigrationError, migrate
from sync_platform.pipelines.model import (
    PIPELINE_ID_PATTERN,
    Pipeline,
    PipelineCreate,
    PipelineUpdate,
    StreamSelection,
    generate_pipeline_id,
)
from sync_platform.pipelines.run_config import RevealedPipelineConfig, resolve_secrets
from sync_platform.pipelines.run_lock import PipelineBusyError, RunLock
from sync_platform.pipelines.secret_fields import secret_paths
from sync_platform.pipelines.states import (
    MAX_CONSECUTIVE_FAILURES,
    DesiredStatus,
    DisplayStatus,
    PipelineError,
    PipelineStatus,
    retry_delay,
)
from sync_platform.pipelines.store import (
    DEFAULT_SCHEMA,
    PipelineStore,
    StoreUnavailableError,
    describe_database,
)
from sync_platform.pipelines.transaction import StoreTransaction
from sync_platform.pipelines.vault import SECRET_KEY_ENV, SecretVault, env_secret
from sync_platform.pipelines.webhook_target import WebhookTarget

__all__ = [
    "DEFAULT_SCHEMA",
    "MAX_CONSECUTIVE_FAILURES",
    "MIGRATIONS",
    "PIPELINE_ID_PATTERN",
    "PLATFORM_TRANSITIONS",
    "SECRET_KEY_ENV",
    "USER_CHANGES",
    "WEBHOOK_SECRET_FIELD",
    "Checkpoint",
    "CheckpointLane",
    "ConcurrentUpdateError",
    "ConnectorConfigs",
    "DesiredStatus",
    "DisplayStatus",
    "InboxEvent",
    "InboxRef",
    "InboxSummary",
    "Lanes",
    "Lifecycle",
    "LiveIntake",
    "Migration",
    "MigrationError",
    "MissingEnvSecretError",
    "MissingSecretKeyError",
    "Pipeline",
    "PipelineBusyError",
    "PipelineCreate",
    "PipelineError",
    "PipelineExistsError",
    "PipelineNotFoundError",
    "PipelineStatus",
    "PipelineStore",
    "PipelineUpdate",
    "RevealedPipelineConfig",
    "RunLock",
    "SecretDecryptionError",
    "SecretError",
    "SecretVault",
    "StoreTransaction",
    "StoreUnavailableError",
    "StreamSelection",
    "TransitionError",
    "WebhookTarget",
    "describe_database",
    "display_status",
    "env_secret",
    "generate_pipeline_id",
    "lanes",
    "lanes_for",
    "live_intake",
    "mask_config",
    "migrate",
    "platform_transition_allowed",
    "resolve_secrets",
    "resume_target",
    "retry_delay",
    "secret_paths",
    "target_status",
]
