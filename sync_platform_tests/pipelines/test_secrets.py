"""Secrets are found from the connector's schema, stored only as env references or encrypted, and
revealed only for a run, with errors that name the field and the variable."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from jsonschema import Draft202012Validator
from pydantic import BaseModel, SecretStr

from sync_platform.errors import ConfigError
from sync_platform.pipelines import (
    SECRET_KEY_ENV,
    MissingEnvSecretError,
    MissingSecretKeyError,
    PipelineCreate,
    PipelineStore,
    PipelineUpdate,
    SecretDecryptionError,
    SecretError,
    SecretVault,
    resolve_secrets,
    secret_paths,
)
from sync_platform.pipelines.secret_fields import stored_form_schema
from sync_platform.protocol import source_config_control
from sync_platform_tests.plugins.pipelines import DB_PASSWORD, STRIPE_KEY, SecretiveSourceConfig

SCHEMA = SecretiveSourceConfig.model_json_schema()


def secretive(config: dict[str, object], pipeline_id: str = "stripe-sync") -> PipelineCreate:
    return PipelineCreate.model_validate(
        {
            "id": pipeline_id,
            "source": {"type": "secretive", "secretive": config},
            "destination": {"type": "null"},
        }
    )


# --- finding secrets in a config ---------------------------------------------------------------


def test_secret_paths_follow_refs_unions_and_lists_of_pydantic_schemas() -> None:
    config = {
        "api_key": "sk_test_1",
        "webhook_secret": ["whsec_a", {"env": "B"}],
        "credentials": {"user": "app", "password": "pw"},
        "webhook_url": "https://example.com/hook",
        "streams": {"customer": 3},
    }
    assert secret_paths(SCHEMA, config) == [
        ("api_key",),
        ("webhook_secret", 0),
        ("webhook_secret", 1),
        ("credentials", "password"),
    ]
    assert secret_paths(SCHEMA, {"api_key": "sk_test_1", "webhook_secret": None}) == [("api_key",)]


def test_secret_paths_of_a_schema_without_secrets_is_empty() -> None:
    class Plain(BaseModel):
        url: str
        batch_size: int = 100

    assert secret_paths(Plain.model_json_schema(), {"url": "x", "batch_size": 5}) == []


def test_a_dict_secret_in_a_pattern_properties_map_is_found() -> None:
    class Keys(BaseModel):
        keys: dict[str, SecretStr]

    assert secret_paths(Keys.model_json_schema(), {"keys": {"acct_1": "k1"}}) == [("keys", "acct_1")]


def test_stored_form_schema_accepts_references_and_still_checks_plaintext() -> None:
    validator = Draft202012Validator(stored_form_schema(SCHEMA))
    assert validator.is_valid({"api_key": {"env": "STRIPE_API_KEY"}})
    assert validator.is_valid(
        {"api_key": {"encrypted": "token"}, "webhook_secret": [{"env": "A"}, "whsec_b"]}
    )
    assert validator.is_valid({"api_key": "sk_live_abc"})
    assert not validator.is_valid({"api_key": "pk_live_abc"})  # the connector's own pattern still applies


# --- the vault ---------------------------------------------------------------------------------


def test_sealed_secrets_reveal_with_any_key_of_a_rotation(secret_key: str) -> None:
    sealed = SecretVault({SECRET_KEY_ENV: secret_key}).seal("sk_test_1")
    rotated = SecretVault({SECRET_KEY_ENV: f"{Fernet.generate_key().decode()},{secret_key}"})

    assert set(sealed) == {"encrypted"}
    assert "sk_test_1" not in sealed["encrypted"]
    assert rotated.reveal(sealed) == "sk_test_1"


def test_sealing_without_a_key_says_how_to_make_one() -> None:
    with pytest.raises(
        MissingSecretKeyError, match=rf"{SECRET_KEY_ENV} is not set.*Fernet.generate_key.*env"
    ):
        SecretVault({}).seal("sk_test_1", field="api_key", connector="stripe")


def test_a_token_from_another_key_names_the_field_and_the_fix(secret_key: str) -> None:
    sealed = SecretVault({SECRET_KEY_ENV: secret_key}).seal("sk_test_1")
    other = SecretVault({SECRET_KEY_ENV: Fernet.generate_key().decode()})

    with pytest.raises(
        SecretDecryptionError, match=r"'api_key' of connector 'stripe' cannot be decrypted.*rotated"
    ):
        other.reveal(sealed, field="api_key", connector="stripe")


def test_a_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(SecretError, match=f"{SECRET_KEY_ENV} is not a valid Fernet key"):
        SecretVault({SECRET_KEY_ENV: "not-a-key"}).seal("x")


def test_an_unset_env_reference_names_the_variable() -> None:
    with pytest.raises(
        MissingEnvSecretError, match=r"environment variable STRIPE_LIVE_KEY, which is not set"
    ):
        SecretVault({}).reveal({"env": "STRIPE_LIVE_KEY"}, field="api_key", connector="stripe")


# --- through the store -------------------------------------------------------------------------


def test_plaintext_secrets_are_encrypted_at_rest_and_env_references_kept(
    pipeline_store: PipelineStore,
) -> None:
    created = pipeline_store.create(
        secretive(
            {
                "api_key": {"env": "STRIPE_API_KEY"},
                "webhook_secret": "whsec_plain",
                "credentials": {"password": DB_PASSWORD},
            }
        )
    )

    config = created.source.config
    assert config["api_key"] == {"env": "STRIPE_API_KEY"}
    assert set(config["webhook_secret"]) == {"encrypted"}
    assert set(config["credentials"]["password"]) == {"encrypted"}
    assert config["credentials"]["user"] == "app"  # not secret: stored as is, default applied

    revealed = resolve_secrets(created, pipeline_store.configs)
    assert revealed.source.config["api_key"] == STRIPE_KEY
    assert revealed.source.config["webhook_secret"] == "whsec_plain"
    assert revealed.source.config["credentials"]["password"] == DB_PASSWORD


def test_storing_a_plaintext_secret_without_a_key_fails_and_stores_nothing(
    pipeline_store: PipelineStore, store_environ: dict[str, str]
) -> None:
    del store_environ[SECRET_KEY_ENV]

    with pytest.raises(
        MissingSecretKeyError, match="Cannot encrypt the secret at 'api_key' of connector 'secretive'"
    ):
        pipeline_store.create(secretive({"api_key": STRIPE_KEY}))
    assert pipeline_store.find("stripe-sync") is None
    assert pipeline_store.create(secretive({"api_key": {"env": "STRIPE_API_KEY"}})).id == "stripe-sync"


def test_a_run_on_a_host_without_the_referenced_variable_names_it(
    pipeline_store: PipelineStore, store_environ: dict[str, str]
) -> None:
    created = pipeline_store.create(secretive({"api_key": {"env": "STRIPE_API_KEY"}}))
    del store_environ["STRIPE_API_KEY"]

    with pytest.raises(MissingEnvSecretError, match="STRIPE_API_KEY") as raised:
        pipeline_store.resolve_secrets(created)
    assert raised.value.field == "api_key"


@pytest.mark.parametrize(
    ("api_key", "message"),
    [
        ({"env": "1_BAD"}, "`env` must name an environment variable"),
        ({"vault": "x"}, 'a secret must be a string, {"env": "NAME"} or {"encrypted": "<token>"}'),
        ({"env": "A", "encrypted": "b"}, "a secret must be a string"),
        ("pk_test_" + "publishable", "must match the pattern"),
        ("***", r"the secret is masked \(`\*\*\*`\) and there is no stored secret there to keep"),
    ],
)
def test_a_bad_secret_is_refused_with_its_field_named(
    pipeline_store: PipelineStore, api_key: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"Invalid source config for 'secretive' at 'api_key': {message}"):
        pipeline_store.create(secretive({"api_key": api_key}))


def test_a_foreign_token_is_refused_at_the_door(pipeline_store: PipelineStore) -> None:
    foreign = SecretVault({SECRET_KEY_ENV: Fernet.generate_key().decode()}).seal(STRIPE_KEY)
    with pytest.raises(SecretDecryptionError, match="'api_key'"):
        pipeline_store.create(secretive({"api_key": foreign}))


def test_an_update_sending_back_masked_secrets_keeps_the_stored_ones(pipeline_store: PipelineStore) -> None:
    """``get`` shows ``***``; editing that output and sending it back must not lose the secret."""
    created = pipeline_store.create(secretive({"api_key": STRIPE_KEY, "webhook_secret": "whsec_1"}))
    shown = created.masked()["source"]["secretive"]
    assert shown["api_key"] == "***"

    updated = pipeline_store.update(
        "stripe-sync",
        PipelineUpdate.model_validate(
            {"source": {"type": "secretive", "secretive": {**shown, "poll_events": True}}}
        ),
    )

    assert (
        updated.source.config["api_key"] == created.source.config["api_key"]
    )  # the same token, not re-encrypted
    assert updated.source.config["poll_events"] is True
    assert pipeline_store.resolve_secrets(updated).source.config["api_key"] == STRIPE_KEY


def test_resending_the_same_plaintext_changes_nothing(pipeline_store: PipelineStore) -> None:
    created = pipeline_store.create(secretive({"api_key": STRIPE_KEY}))

    again = pipeline_store.update(
        "stripe-sync",
        PipelineUpdate.model_validate(
            {"source": {"type": "secretive", "secretive": {"api_key": STRIPE_KEY}}}
        ),
    )

    assert again == created  # no re-encryption churn, no version bump


def test_a_control_message_with_a_new_secret_encrypts_it(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(secretive({"api_key": {"env": "STRIPE_API_KEY"}}))

    updated = pipeline_store.apply_control(
        "stripe-sync", source_config_control({"api_key": "sk_test_rotated", "webhook_secret": "whsec_new"})
    )

    assert set(updated.source.config["api_key"]) == {
        "encrypted"
    }  # the value changed: the reference cannot hold it
    revealed = pipeline_store.resolve_secrets(updated)
    assert revealed.source.config["api_key"] == "sk_test_rotated"
    assert revealed.source.config["webhook_secret"] == "whsec_new"
