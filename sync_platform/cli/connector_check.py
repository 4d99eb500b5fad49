"""The connector check the CLI runs (its home is ``sync_platform.pipelines.connector_check``, which
the HTTP API shares); re-exported here for the commands that import it from the CLI package."""

from sync_platform.pipelines.connector_check import (
    CheckResult,
    ConnectorCheckError,
    check_connectors,
    check_pipeline,
    create_checked,
    require_checks_pass,
    revealed_request,
)

__all__ = [
    "CheckResult",
    "ConnectorCheckError",
    "check_connectors",
    "check_pipeline",
    "create_checked",
    "require_checks_pass",
    "revealed_request",
]
