"""An encoded enum index that names no symbol is refused (issue 10, finding 9), and every valid one decodes as before.

Before: fastavro read an enum as ``symbols[index]``, so index -1 decoded as the last
symbol (a DataCreated counted as INFERENCE) where Apache avro refuses it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.raw_enums import written_raw
from tests.unit.samples import SAMPLES, batch_of
from zettaledger.schemas import EventCodec, ReferenceCodec, SchemaDecodeError, SchemaRegistry, default_registry
from zettaledger.schemas.enums import UnsupportedEnumError
from zettaledger.schemas.registry import AVRO_DIR

CODEC = EventCodec()
ENUMS = {"DataCreated": ("source", "derivation"), "DatasetRegistered": ("quality_grade",)}
SYMBOLS = {"source": 5, "derivation": 3, "quality_grade": 3}


def refused(payload: bytes) -> str:
    with pytest.raises(SchemaDecodeError) as err:
        CODEC.decode(payload)
    assert err.value.reason == "corrupt_body"  # dead-lettered as a body that does not decode
    return str(err.value)


@pytest.mark.parametrize(("name", "field"), [(n, f) for n, fields in ENUMS.items() for f in fields])
def test_a_negative_index_is_refused_naming_the_field_as_apache_avro_refuses_it(name: str, field: str) -> None:
    payload = written_raw(name, {**SAMPLES[name], field: -1})
    message = refused(payload)
    assert f"field {field} holds enum index -1, out of range: " in message
    assert f"has {SYMBOLS[field]} symbols (indexes 0 to {SYMBOLS[field] - 1})" in message
    with pytest.raises(SchemaDecodeError, match="enum index -1"):
        ReferenceCodec().decode(payload)


@pytest.mark.parametrize(("name", "field"), [(n, f) for n, fields in ENUMS.items() for f in fields])
def test_an_index_past_the_last_symbol_is_refused_naming_the_field(name: str, field: str) -> None:
    """As Apache avro for Java refuses it ("Enumeration out of range"). Apache avro for Python reads it
    as the writer enum's default, taking it for a symbol of a later schema; but the fingerprint names
    the exact writer schema, whose symbols end before it, so no symbol is meant."""
    message = refused(written_raw(name, {**SAMPLES[name], field: SYMBOLS[field]}))
    assert f"field {field} holds enum index {SYMBOLS[field]}, out of range: " in message


def test_every_negative_index_is_refused_not_only_minus_one() -> None:
    for index in (-2, -5, -6, -(2**31), -(2**63)):
        assert "out of range" in refused(written_raw("DataCreated", {**SAMPLES["DataCreated"], "source": index}))


def test_in_a_batch_the_message_names_the_event_and_the_field() -> None:
    events = [("DataCreated", SAMPLES["DataCreated"])] * 3 + [("DatasetRegistered", SAMPLES["DatasetRegistered"])] * 2
    batch = batch_of(events)
    batch["data_created"] = [*batch["data_created"][:2], {**SAMPLES["DataCreated"], "derivation": -1}]
    assert "field data_created[2].derivation holds enum index -1" in refused(written_raw("EventBatch", batch))
    batch = batch_of(events)
    batch["datasets_registered"] = [SAMPLES["DatasetRegistered"], {**SAMPLES["DatasetRegistered"], "quality_grade": 3}]
    assert "field datasets_registered[1].quality_grade holds enum index 3" in refused(written_raw("EventBatch", batch))


def test_an_old_writer_read_through_the_current_reader_is_checked_too() -> None:
    (v1,) = [v for v in default_registry().versions() if not v.current and v.short_name == "DataCreated"]
    old = {k: v for k, v in SAMPLES["DataCreated"].items() if k != "derivation"}
    assert CODEC.decode(written_raw("DataCreated", old, v1)).datum == {**old, "derivation": None}
    assert "field source holds enum index -1" in refused(written_raw("DataCreated", {**old, "source": -1}, v1))


@pytest.mark.parametrize("name", ["DataCreated", "DatasetRegistered"])
def test_every_valid_symbol_decodes_to_the_same_string_as_apache_avro(name: str) -> None:
    version = default_registry().current(name)
    enums = {f["name"]: f["type"] for f in version.definition["fields"] if f["name"] in ENUMS[name]}
    for field, schema in enums.items():
        symbols = next(t for t in schema if t != "null")["symbols"] if isinstance(schema, list) else schema["symbols"]
        for symbol in [*symbols, *([None] if isinstance(schema, list) else [])]:
            datum = {**SAMPLES[name], field: symbol}
            payload = CODEC.encode(name, datum)
            assert payload == written_raw(name, datum)  # the symbol is written as its index
            assert CODEC.decode(payload).datum == datum == ReferenceCodec().decode(payload).datum
            assert type(CODEC.decode(payload).datum[field]) is type(symbol)  # a str, as before: nothing downstream changes


def test_a_whole_batch_decodes_to_the_values_the_producer_sent() -> None:
    batch = batch_of(list(SAMPLES.items()) * 10)
    assert CODEC.decode(CODEC.encode("EventBatch", batch)).datum == batch


def test_a_schema_with_an_enum_the_check_would_not_follow_is_refused_when_the_codec_is_built() -> None:
    definitions = [json.loads(p.read_text()) for p in sorted(AVRO_DIR.glob("*.avsc"))]
    changed = copy.deepcopy(definitions)
    for d in changed:
        if d["name"] == "DatasetRegistered":
            grades: dict[str, Any] = {"type": "enum", "name": "Grade", "symbols": ["A", "B"]}
            d["fields"].append({"name": "grades", "type": {"type": "array", "items": grades}, "default": []})
    with pytest.raises(UnsupportedEnumError) as err:
        EventCodec(SchemaRegistry(changed))
    assert "DatasetRegistered.grades" in str(err.value) and "zettaledger.schemas.enums" in str(err.value)


def test_encoding_is_unchanged_by_the_check() -> None:
    """The writer side still writes symbols with fastavro's own enum writer, byte for byte Apache avro's."""
    for name, datum in SAMPLES.items():
        assert CODEC.encode(name, datum) == ReferenceCodec().encode(name, datum)
