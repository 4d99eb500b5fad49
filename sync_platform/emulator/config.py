"""The emulator's settings: dataset size and seed, accounts, keys, faults and webhook retries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sync_platform.emulator.faults import FaultConfig
from sync_platform.emulator.generator import DEFAULT_ANCHOR, DatasetConfig
from sync_platform.emulator.webhooks import RetryPolicy
from sync_platform.sources.stripe import stream_by_name

DEFAULT_OBJECTS = 1_000


class EmulatorConfig(BaseModel):
    """Everything an emulator starts from; the same config always serves the same data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(default=0, description="Seeds the generated data: same seed, same objects.")
    objects: int = Field(default=DEFAULT_OBJECTS, ge=0, description="Objects in the platform account.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="Exact object counts for named streams (the rest share `objects`)."
    )
    connected_accounts: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Connect accounts with their own data (built when first used, so start-up stays fast).",
    )
    connected_objects: int | None = Field(default=None, ge=0, description="Objects per connected account.")
    api_keys: tuple[SecretStr, ...] = Field(
        default=(), description="Accepted keys (sk_test_…/sk_live_…); empty: one fresh sk_test_ key."
    )
    anchor: int = Field(default=DEFAULT_ANCHOR, description="Unix time at which generated history ends.")
    faults: FaultConfig = FaultConfig()
    webhooks: RetryPolicy = RetryPolicy()

    @field_validator("counts")
    @classmethod
    def _known_streams(cls, counts: dict[str, int]) -> dict[str, int]:
        for name, count in counts.items():
            stream_by_name(name)  # raises with a did-you-mean hint
            if count < 0:
                raise ValueError(f"counts[{name!r}] must be >= 0, got {count}")
        return counts

    def dataset_config(self) -> DatasetConfig:
        return DatasetConfig(
            seed=self.seed,
            objects=self.objects,
            counts=tuple(sorted(self.counts.items())),
            connected_accounts=self.connected_accounts,
            connected_objects=self.connected_objects,
            anchor=self.anchor,
        )
