"""API tokens: shown once, stored hashed, verified by hash, revoked by id or name."""

from __future__ import annotations

import pytest

from sync_platform.pipelines import PipelineStore
from sync_platform.pipelines.api_tokens import ApiTokens, TokenExistsError, TokenNotFoundError, TokenScope


def test_a_token_verifies_until_it_is_revoked(pipeline_store: PipelineStore) -> None:
    tokens = ApiTokens(pipeline_store)
    issued = tokens.create("laptop", TokenScope.READ)

    assert issued.secret.startswith("spt_")
    assert issued.secret not in repr(issued)
    found = tokens.verify(issued.secret)
    assert found is not None
    assert (found.name, found.scope, found.can_write) == ("laptop", TokenScope.READ, False)
    assert found.last_used_at is not None or tokens.list()[0].last_used_at is not None
    assert tokens.verify("spt_" + "x" * 43) is None
    assert tokens.verify("not a token") is None

    revoked = tokens.revoke("laptop")
    assert revoked.revoked_at is not None
    again = tokens.verify(issued.secret)
    assert again is not None
    assert not again.active
    assert tokens.list() == []
    assert [t.name for t in tokens.list(include_revoked=True)] == ["laptop"]


def test_names_are_unique_among_active_tokens(pipeline_store: PipelineStore) -> None:
    tokens = ApiTokens(pipeline_store)
    first = tokens.create("ci")
    with pytest.raises(TokenExistsError, match="already named 'ci'"):
        tokens.create("ci")
    tokens.revoke(first.token.id)
    assert tokens.create("ci").token.name == "ci"  # a revoked token's name is free again
    with pytest.raises(TokenNotFoundError, match="No active API token"):
        tokens.revoke("nobody")
