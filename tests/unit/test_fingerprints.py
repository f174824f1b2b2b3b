"""Each canonical form in ``fingerprints.FORMS`` is what its library computes, and the registry accepts them all.

The rules are ours (so what the worker accepts does not move with an installed
library's version); these tests pin each rule to the library itself, on our
schemas and on a schema that uses every kind of type.
"""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import avro.schema
import fastavro
import pytest

from tests.unit.samples import SAMPLES
from zettaledger.schemas import EventCodec, SchemaRegistry, default_registry
from zettaledger.schemas.fingerprints import AVRO_PYTHON, FORMS, SPEC, crc64_avro, fingerprints
from zettaledger.schemas.registry import AVRO_DIR

EVERY_KIND: dict[str, Any] = {
    "type": "record",
    "name": "Everything",
    "namespace": "test.ns",
    "doc": "every kind of type, annotated where Avro allows it",
    "fields": [
        {"name": "plain", "type": "string", "default": "x", "doc": "d"},
        {"name": "wrapped", "type": {"type": "int"}},
        {"name": "documented", "type": {"type": "string", "doc": "a doc only"}},
        {"name": "custom", "type": {"type": "string", "x-owner": "team"}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "fx", "type": {"type": "fixed", "name": "Hash", "size": 16, "aliases": ["H"]}},
        {"name": "fx2", "type": "Hash"},
        {"name": "e", "type": {"type": "enum", "name": "other.Colour", "symbols": ["R", "G"], "default": "R"}},
        {"name": "e2", "type": "other.Colour"},
        {"name": "m", "type": {"type": "map", "values": ["null", {"type": "long", "logicalType": "timestamp-millis"}]}},
        {
            "name": "a",
            "type": {"type": "array", "items": {"type": "record", "name": "Inner", "fields": [{"name": "v", "type": "double"}]}},
        },
        {"name": "again", "type": "Inner"},
        {"name": "u", "type": ["null", "Inner", "string"], "default": None},
        {"name": "flag", "type": "boolean", "aliases": ["old_flag"]},
        {"name": "fx3", "type": "test.ns.Hash"},
    ],
}


def test_crc64_avro_agrees_with_fastavro_and_apache_avro() -> None:
    for text in ('"int"', '{"type":"fixed","name":"a.b","size":1}', "ü and €"):
        ours = crc64_avro(text.encode())
        assert ours.to_bytes(8, "little").hex() == fastavro.schema.fingerprint(text, "CRC-64-AVRO")
        assert ours.to_bytes(8, "little") == avro.schema._crc_64_fingerprint(text.encode())


@pytest.mark.parametrize("schema", [EVERY_KIND, *(v.definition for v in default_registry().versions())], ids=lambda s: s["name"])
def test_the_spec_form_is_fastavro_parsing_canonical_form(schema: dict[str, Any]) -> None:
    assert SPEC.render(schema) == fastavro.schema.to_parsing_canonical_form(copy.deepcopy(dict(schema)))


@pytest.mark.parametrize("schema", [EVERY_KIND, *(v.definition for v in default_registry().versions())], ids=lambda s: s["name"])
def test_the_avro_python_form_is_apache_avro_pythons_canonical_form(schema: dict[str, Any]) -> None:
    parsed = avro.schema.parse(json.dumps(schema))
    assert AVRO_PYTHON.render(schema) == parsed.canonical_form
    assert AVRO_PYTHON.fingerprint(schema).to_bytes(8, "little") == parsed.fingerprint("CRC-64-AVRO")


def test_the_forms_differ_for_our_schemas_which_is_why_both_are_accepted() -> None:
    for version in default_registry().versions():
        assert len(set(version.accepted.values())) == len(FORMS), version.name


def test_every_accepted_fingerprint_finds_the_same_version_and_decodes() -> None:
    registry = default_registry()
    codec = EventCodec(registry)
    for name, datum in SAMPLES.items():
        version = registry.current(name)
        body = codec.encode(name, datum)[10:]
        for form, fingerprint in version.accepted.items():
            assert registry.by_fingerprint(fingerprint) is version, form
            assert codec.decode(b"\xc3\x01" + fingerprint.to_bytes(8, "little") + body).datum == datum


def test_an_old_version_is_accepted_under_every_form_and_read_into_the_current_one() -> None:
    current = [json.loads(p.read_text()) for p in sorted(AVRO_DIR.glob("*.avsc"))]
    old = copy.deepcopy(next(d for d in current if d["name"] == "DataCreated"))
    old["fields"] = [f for f in old["fields"] if f["name"] != "parent_dataset_ids"]  # v0: before lineage
    registry = SchemaRegistry(current, [old])
    (history,) = [v for v in registry.versions() if not v.current]
    datum = {k: v for k, v in SAMPLES["DataCreated"].items() if k != "parent_dataset_ids"}
    body = io.BytesIO()  # written by fastavro with the old schema, as an old producer would
    fastavro.schemaless_writer(body, fastavro.parse_schema(copy.deepcopy(old)), datum)
    for fingerprint in history.accepted.values():
        decoded = EventCodec(registry).decode(b"\xc3\x01" + fingerprint.to_bytes(8, "little") + body.getvalue())
        assert decoded.datum == {**datum, "parent_dataset_ids": []}


def test_fingerprints_of_a_definition_are_keyed_by_form() -> None:
    assert set(fingerprints(EVERY_KIND)) == {form.key for form in FORMS}
    assert FORMS[0] is SPEC  # the one Zettaledger writes
