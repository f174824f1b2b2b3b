"""Framing the codec enforces beyond Avro: nothing after the body, and what EventBatch's fingerprint is taken over."""

from __future__ import annotations

import json

import pytest

from tests.unit.samples import SAMPLES, batch_of
from zettaledger.schemas import EventCodec, ReferenceCodec, SchemaDecodeError, default_registry
from zettaledger.schemas.fingerprints import SPEC
from zettaledger.schemas.registry import AVRO_DIR


@pytest.mark.parametrize("codec", [EventCodec(), ReferenceCodec()], ids=["fastavro", "apache-avro"])
@pytest.mark.parametrize("trailing", [b"\x00", b"junk", EventCodec().encode("TokenUsage", SAMPLES["TokenUsage"])])
def test_bytes_after_a_valid_body_are_a_corrupt_body_naming_how_many(codec: EventCodec | ReferenceCodec, trailing: bytes) -> None:
    payload = EventCodec().encode("DataCreated", SAMPLES["DataCreated"])
    assert codec.decode(payload).datum == SAMPLES["DataCreated"]
    with pytest.raises(SchemaDecodeError) as err:
        codec.decode(payload + trailing)
    assert err.value.reason == "corrupt_body"
    assert f"{len(trailing)} byte(s) follow the end of the DataCreated body" in str(err.value)
    assert f"payload of {len(payload) + len(trailing)} bytes" in str(err.value)


def test_a_batch_followed_by_bytes_is_refused_whole() -> None:
    payload = EventCodec().encode("EventBatch", batch_of(list(SAMPLES.items())))
    with pytest.raises(SchemaDecodeError) as err:
        EventCodec().decode(payload + b"\x02")
    assert err.value.reason == "corrupt_body"
    assert "1 byte(s) follow the end of the EventBatch body" in str(err.value)


def test_the_batch_fingerprint_is_taken_over_the_schema_with_the_event_records_inlined() -> None:
    version = default_registry().current("EventBatch")
    canonical = SPEC.render(version.definition)
    for name in ("DataCreated", "TokenUsage", "DatasetRegistered", "CollectionRun"):
        record = SPEC.render(default_registry().current(name).definition)
        assert record in canonical, f"{name} is not written out inside EventBatch's canonical form"
    as_written = json.loads((AVRO_DIR / "EventBatch.avsc").read_text())
    assert '"items":"io.zettaledger.events.DataCreated"' in SPEC.render(as_written)  # the file names the records...
    assert (
        version.fingerprint == SPEC.fingerprint(version.definition) != SPEC.fingerprint(as_written)
    )  # ...the fingerprint does not
