"""The quoted names of the store's tables inside one app-database schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg import sql

from sync_platform.pipelines.migrations import check_schema_name


@dataclass(frozen=True)
class Tables:
    """``schema``-qualified identifiers, so no query depends on ``search_path``."""

    schema: str
    pipelines: sql.Identifier = field(init=False)
    checkpoints: sql.Identifier = field(init=False)
    inbox: sql.Identifier = field(init=False)
    run_locks: sql.Identifier = field(init=False)
    api_tokens: sql.Identifier = field(init=False)
    pipeline_runs: sql.Identifier = field(init=False)

    def __post_init__(self) -> None:
        check_schema_name(self.schema)
        object.__setattr__(self, "pipelines", sql.Identifier(self.schema, "pipelines"))
        object.__setattr__(self, "checkpoints", sql.Identifier(self.schema, "checkpoints"))
        object.__setattr__(self, "inbox", sql.Identifier(self.schema, "webhook_inbox"))
        object.__setattr__(self, "run_locks", sql.Identifier(self.schema, "run_locks"))
        object.__setattr__(self, "api_tokens", sql.Identifier(self.schema, "api_tokens"))
        object.__setattr__(self, "pipeline_runs", sql.Identifier(self.schema, "pipeline_runs"))
