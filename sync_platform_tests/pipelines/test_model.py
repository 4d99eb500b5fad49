"""What users may send when creating or changing a pipeline, and how a pipeline reads back."""

from __future__ import annotations

import re
from typing import Any

import pydantic
import pytest

from sync_platform.pipelines import (
    PIPELINE_ID_PATTERN,
    DesiredStatus,
    PipelineCreate,
    PipelineUpdate,
    StreamSelection,
    generate_pipeline_id,
)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "source": {"type": "fixture", "fixture": {}},
        "destination": {"type": "null", "null": {}},
        **overrides,
    }


@pytest.mark.parametrize("pipeline_id", ["abc", "billing-sync", "pipe_0123", "a" * 64, "x1_-"])
def test_friendly_ids_are_accepted(pipeline_id: str) -> None:
    assert PipelineCreate.model_validate(body(id=pipeline_id)).id == pipeline_id


@pytest.mark.parametrize(
    "pipeline_id", ["ab", "Not Friendly", "1abc", "-abc", "Billing", "a" * 65, "a.b.c", ""]
)
def test_unfriendly_ids_are_refused_naming_the_id_field(pipeline_id: str) -> None:
    with pytest.raises(pydantic.ValidationError) as raised:
        PipelineCreate.model_validate(body(id=pipeline_id))
    assert [error["loc"] for error in raised.value.errors()] == [("id",)]


def test_generated_ids_match_the_id_pattern_and_differ() -> None:
    ids = {generate_pipeline_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(PIPELINE_ID_PATTERN, pipeline_id) for pipeline_id in ids)


def test_a_misspelt_connector_key_is_refused_rather_than_dropped() -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"unexpected key\(s\) 'fixtur'.*goes under the key 'fixture'"
    ):
        PipelineCreate.model_validate(body(source={"type": "fixture", "fixtur": {"streams": {"a": 1}}}))


def test_a_connector_without_type_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape('must look like {"type": "<connector>"')):
        PipelineCreate.model_validate(body(destination={"postgres": {}}))


def test_streams_accept_names_or_objects_with_a_backfill_limit() -> None:
    request = PipelineCreate.model_validate(
        body(streams=["customer", {"name": "invoice", "backfill_limit": 10}])
    )
    assert request.streams == [
        StreamSelection(name="customer"),
        StreamSelection(name="invoice", backfill_limit=10),
    ]


@pytest.mark.parametrize(
    ("streams", "message"),
    [
        (["customer", "customer"], "stream 'customer' is listed twice"),
        ([{"name": "invoice", "backfill_limit": 0}], "greater than 0"),
        ([{"name": "invoice", "fields": ["id"]}], "Extra inputs are not permitted"),
    ],
)
def test_bad_stream_selections_are_refused(streams: list[Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        PipelineCreate.model_validate(body(streams=streams))


def test_a_pipeline_cannot_be_created_deleted() -> None:
    assert PipelineCreate.model_validate(body(desired_status="paused")).desired_status is DesiredStatus.PAUSED
    with pytest.raises(pydantic.ValidationError):
        PipelineCreate.model_validate(body(desired_status="deleted"))


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        PipelineCreate.model_validate(body(status="ready"))  # status is the platform's to write
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        PipelineUpdate.model_validate({"status": "ready"})


def test_an_update_knows_an_explicit_null_stream_list_from_an_absent_one() -> None:
    assert PipelineUpdate.model_validate({"streams": None}).changes_config
    assert not PipelineUpdate.model_validate({}).changes_config
    assert not PipelineUpdate.model_validate({"desired_status": "paused"}).changes_config
