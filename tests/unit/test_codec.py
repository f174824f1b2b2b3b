"""The wire contract: single-object framing, fastavro == Apache avro byte for byte, and evolution both ways."""

from __future__ import annotations

import copy
import json

import fastavro
import pytest

from tests.unit.samples import SAMPLES, batch_of
from zettaledger.schemas import EventCodec, ReferenceCodec, SchemaDecodeError, SchemaRegistry, default_registry
from zettaledger.schemas.registry import AVRO_DIR


def test_fingerprints_match_fastavro_parsing_canonical_form() -> None:
    registry = default_registry()
    for name in registry.names():
        version = registry.current(name)
        canonical = fastavro.schema.to_parsing_canonical_form(dict(version.definition))
        assert fastavro.schema.fingerprint(canonical, "CRC-64-AVRO") == version.fingerprint.to_bytes(8, "little").hex()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_fastavro_writes_the_same_bytes_as_apache_avro(name: str) -> None:
    datum = SAMPLES[name]
    fast, reference = EventCodec().encode(name, datum), ReferenceCodec().encode(name, datum)
    assert fast == reference
    assert fast[:2] == b"\xc3\x01"
    assert EventCodec().decode(reference).datum == datum
    assert ReferenceCodec().decode(fast).datum == datum


def test_a_batch_envelope_round_trips_identically_in_both_libraries() -> None:
    batch = batch_of(list(SAMPLES.items()))
    assert EventCodec().encode("EventBatch", batch) == ReferenceCodec().encode("EventBatch", batch)
    assert EventCodec().decode(ReferenceCodec().encode("EventBatch", batch)).datum == batch


def test_bytes_without_the_single_object_marker_are_refused_with_a_reason() -> None:
    with pytest.raises(SchemaDecodeError) as err:
        EventCodec().decode(b'{"bytes": 5}')
    assert err.value.reason == "not_single_object"
    assert "C3 01" in str(err.value)


def test_an_unknown_schema_fingerprint_says_to_deploy_the_schema_first() -> None:
    payload = b"\xc3\x01" + (12345).to_bytes(8, "little") + b"\x00"
    with pytest.raises(SchemaDecodeError) as err:
        EventCodec().decode(payload)
    assert err.value.reason == "unknown_schema"
    assert "schemas/avro/history" in str(err.value)


def test_a_truncated_body_is_a_corrupt_body() -> None:
    payload = EventCodec().encode("DataCreated", SAMPLES["DataCreated"])
    with pytest.raises(SchemaDecodeError) as err:
        EventCodec().decode(payload[:20])
    assert err.value.reason == "corrupt_body"


def _current_definitions() -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(AVRO_DIR.glob("*.avsc"))]


def _v2(definitions: list[dict[str, object]]) -> list[dict[str, object]]:
    """DataCreated v2: a new field with a default, and a new source symbol."""
    out = copy.deepcopy(definitions)
    for d in out:
        if d["name"] == "DataCreated":
            fields = d["fields"]
            assert isinstance(fields, list)
            fields.append({"name": "storage_tier", "type": "string", "default": "hot"})
            for f in fields:
                if f["name"] == "source":
                    f["type"]["symbols"].append("SATELLITE")
    return out


def test_new_reader_reads_what_old_writers_wrote_with_defaults() -> None:
    old = SchemaRegistry(_current_definitions())
    new = SchemaRegistry(_v2(_current_definitions()), history=_current_definitions())
    payload = EventCodec(old).encode("DataCreated", SAMPLES["DataCreated"])
    decoded = EventCodec(new).decode(payload)
    assert decoded.datum["storage_tier"] == "hot"
    assert decoded.datum["bytes"] == SAMPLES["DataCreated"]["bytes"]


def test_old_reader_reads_what_new_writers_wrote_once_it_ships_their_schema() -> None:
    new = SchemaRegistry(_v2(_current_definitions()))
    old = SchemaRegistry(_current_definitions(), history=_v2(_current_definitions()))
    datum = {**SAMPLES["DataCreated"], "storage_tier": "cold", "source": "SATELLITE"}
    payload = EventCodec(new).encode("DataCreated", datum)
    decoded = EventCodec(old).decode(payload)
    assert "storage_tier" not in decoded.datum
    assert decoded.datum["source"] == "OTHER"  # the enum's default for symbols this reader does not know
    with pytest.raises(SchemaDecodeError) as err:
        EventCodec(SchemaRegistry(_current_definitions())).decode(payload)
    assert err.value.reason == "unknown_schema"
