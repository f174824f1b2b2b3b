"""The Python models and the validation rules agree with the Avro contract."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.samples import SAMPLES
from zettaledger.schemas import CollectionRun, DataCreated, DatasetRegistered, EventRejected, TokenUsage, check, default_registry
from zettaledger.schemas.models import Event
from zettaledger.schemas.validation import EARLIEST_EVENT_MS

LATEST = 1_800_000_000_000


@pytest.mark.parametrize("model", [DataCreated, TokenUsage, DatasetRegistered, CollectionRun])
def test_model_fields_equal_the_schema_fields_in_order(model: type[Event]) -> None:
    schema = default_registry().current(model.schema_name).definition
    assert [f.name for f in dataclasses.fields(model)] == [f["name"] for f in schema["fields"]]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_samples_are_valid(name: str) -> None:
    check(name, SAMPLES[name], LATEST)


@pytest.mark.parametrize(
    ("name", "field", "value", "reason"),
    [
        ("DataCreated", "bytes", -1, "must be >= 0"),
        ("DataCreated", "records", -5, "must be >= 0"),
        ("DataCreated", "region", "Guangdong", "ISO 3166-2"),
        ("DataCreated", "event_id", "not-a-uuid", "UUID"),
        ("DataCreated", "event_time", EARLIEST_EVENT_MS - 1, "before 2000"),
        ("DataCreated", "event_time", LATEST + 86_400_001 * 2, "future"),
        ("DataCreated", "dataset_id", "", "1 to 256"),
        ("DataCreated", "parent_dataset_ids", ["ds-child"], "derive from itself"),
        ("TokenUsage", "output_tokens", -1, "must be >= 0"),
        ("DatasetRegistered", "owner", "", "1 to 256"),
        ("CollectionRun", "usable_captures", 101, "exceeds attempted_captures"),
    ],
)
def test_a_bad_field_is_rejected_by_name_with_its_value_and_reason(name: str, field: str, value: object, reason: str) -> None:
    with pytest.raises(EventRejected) as err:
        check(name, {**SAMPLES[name], field: value}, LATEST + 86_400_000)
    assert err.value.field == field
    assert reason in err.value.reason
    assert err.value.kind == name


def test_a_model_encodes_to_the_avro_shape() -> None:
    from zettaledger.schemas import EventCodec, Source

    event = DataCreated(SAMPLES["DataCreated"]["event_id"], 1_735_689_600_000, "p", Source.IOT, "CN-GD", "o", "d", 1, 2, ("x",))
    datum = EventCodec().decode(EventCodec().encode("DataCreated", event.to_avro())).datum
    assert datum["source"] == "IOT"
    assert datum["parent_dataset_ids"] == ["x"]
