"""Avro single-object encoding of Zettaledger events.

Wire format (Avro specification, "Single-object encoding")::

    C3 01 | CRC-64-AVRO fingerprint of the writer schema, 8 bytes little-endian | Avro binary body

and nothing after the body: trailing bytes are a ``corrupt_body``. The fingerprint
may be any a mainstream library computes for the schema (``fingerprints.FORMS``);
this codec writes the specification's.

We chose it over the Confluent wire format because it needs no schema-registry
service on the hot path: the fingerprint is derived from the schema itself, so
producers and workers agree without coordination, and the worker ships every
writer schema it accepts (``schemas/avro`` and ``schemas/avro/history``).

``EventCodec`` uses fastavro (several times faster); ``ReferenceCodec`` uses
Apache ``avro``, the schema authority, and a test proves both write the same bytes.
``EventCodec`` reads enums as their index and checks it (``schemas/enums.py``):
fastavro alone decodes index -1 as the last symbol.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro

from zettaledger.errors import ZettaledgerError
from zettaledger.schemas.enums import EnumIndexError, EnumPlan, int_variant
from zettaledger.schemas.registry import SchemaRegistry, SchemaVersion, default_registry

__all__ = ["MAGIC", "Decoded", "EventCodec", "ReferenceCodec", "SchemaDecodeError", "fingerprint_of"]

MAGIC = b"\xc3\x01"
_HEADER_LEN = 10


class SchemaDecodeError(ZettaledgerError):
    """A payload that is not a readable Zettaledger event; ``reason`` is a short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded message: the record's short name and its fields as plain values."""

    name: str
    datum: dict[str, Any]


def fingerprint_of(payload: bytes) -> int:
    """The writer-schema fingerprint in a single-object header."""
    if len(payload) < _HEADER_LEN or payload[:2] != MAGIC:
        raise SchemaDecodeError(
            "not_single_object",
            f"payload of {len(payload)} bytes does not start with the Avro single-object marker C3 01; "
            "encode events with zettaledger's producer or any Avro single-object encoder",
        )
    return int.from_bytes(payload[2:_HEADER_LEN], "little")


@dataclass(frozen=True, slots=True)
class _Reading:
    """How the bodies of one writer schema are read: fastavro's schemas (enums as ints) and the enum plan."""

    writer: Any  # fastavro-parsed int variant of the writer schema
    reader: Any  # ... of the current version, when the writer is an older one; else None
    enums: EnumPlan


def _parsed_for_reading(version: SchemaVersion) -> Any:
    # Parsed with fastavro's hint: schemaless_reader then takes the schema as it is, where without
    # the hint it parses it again at every call (about 20 us for EventBatch). Defaults stay symbols
    # in the int variant (see enums.int_variant); Apache avro checked them when the registry loaded.
    return fastavro.parse_schema(int_variant(version.wire_definition), _ignore_default_error=True)


class EventCodec:
    """Encodes and decodes events with fastavro, resolving old writer schemas to current readers."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        self._registry = registry = registry or default_registry()
        self._writers: dict[int, Any] = {}
        self._headers: dict[str, bytes] = {}
        # Every version the registry holds, planned now: a schema whose enums the check cannot
        # follow stops the worker at start (enums.UnsupportedEnumError), not at its first message.
        current = {v.short_name: _parsed_for_reading(v) for v in registry.versions() if v.current}
        self._readings: dict[int, _Reading] = {}
        for version in registry.versions():
            if version.current:
                reading = _Reading(current[version.short_name], None, EnumPlan.of(version.wire_definition))
            else:
                now = registry.current(version.short_name)
                reading = _Reading(
                    _parsed_for_reading(version),
                    current[version.short_name],
                    EnumPlan.of(version.wire_definition, now.wire_definition),
                )
            self._readings[version.fingerprint] = reading

    @property
    def registry(self) -> SchemaRegistry:
        return self._registry

    def _parsed(self, version: SchemaVersion) -> Any:
        parsed = self._writers.get(version.fingerprint)
        if parsed is None:
            parsed = fastavro.parse_schema(version.wire_definition, _write_hint=False)
            self._writers[version.fingerprint] = parsed
        return parsed

    def header(self, name: str) -> bytes:
        header = self._headers.get(name)
        if header is None:
            version = self._registry.current(name)
            header = MAGIC + version.fingerprint.to_bytes(8, "little")
            self._headers[name] = header
        return header

    def encode(self, name: str, datum: Mapping[str, Any]) -> bytes:
        """Encode one record with the current schema called ``name``."""
        version = self._registry.current(name)
        out = io.BytesIO()
        out.write(self.header(name))
        fastavro.schemaless_writer(out, self._parsed(version), datum)
        return out.getvalue()

    def decode(self, payload: bytes) -> Decoded:
        """Decode a single-object payload into the current version of its record."""
        fingerprint = fingerprint_of(payload)
        writer = self._registry.by_fingerprint(fingerprint)
        if writer is None:
            raise _unknown(self._registry, fingerprint)
        reading = self._readings[writer.fingerprint]
        body = io.BytesIO(payload)
        body.seek(_HEADER_LEN)
        try:
            datum = fastavro.schemaless_reader(body, reading.writer, reading.reader)
        except Exception as exc:  # fastavro raises many types for corrupt bodies
            raise SchemaDecodeError(
                "corrupt_body",
                f"{writer.short_name} body of {len(payload) - _HEADER_LEN} bytes does not decode: {_cause(exc)}",
            ) from exc
        if not isinstance(datum, dict):
            raise SchemaDecodeError("corrupt_body", f"{writer.short_name} decoded to {type(datum).__name__}")
        if body.tell() != len(payload):
            raise _trailing(writer, len(payload), body.tell())
        if reading.enums:
            try:
                reading.enums.apply(datum)
            except EnumIndexError as exc:
                raise SchemaDecodeError("corrupt_body", f"{writer.short_name} body does not decode: {exc}") from None
        return Decoded(writer.short_name, datum)


def _cause(exc: BaseException, most: int = 300) -> str:
    """A decoder's error as short text: ``str``, never ``repr`` (a UnicodeDecodeError's repr holds the whole bad string)."""
    if isinstance(exc, UnicodeDecodeError):  # its str names the position, not the bytes
        return f"invalid UTF-8 ({exc.reason}) at byte {exc.start} of a {len(exc.object)}-byte string"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= most else text[: most - 3] + "..."


def _unknown(registry: SchemaRegistry, fingerprint: int) -> SchemaDecodeError:
    header = fingerprint.to_bytes(8, "little").hex()
    hint = registry.hint(fingerprint)
    advice = hint or (
        "deploy the worker with the producer's schema (schemas/avro/history) before the producer; "
        "the accepted fingerprints are listed in docs/contract.md"
    )
    return SchemaDecodeError("unknown_schema", f"writer schema fingerprint {header} is not known to this worker: {advice}")


def _trailing(writer: SchemaVersion, size: int, end: int) -> SchemaDecodeError:
    """Bytes after a complete body: a message carries exactly one object, so the payload is not what was meant."""
    return SchemaDecodeError(
        "corrupt_body",
        f"{size - end} byte(s) follow the end of the {writer.short_name} body ({end - _HEADER_LEN} bytes) "
        f"in a payload of {size} bytes; a message carries exactly one single-object-encoded event or batch",
    )


class ReferenceCodec:
    """The same wire format through Apache ``avro``: slower, and the authority fastavro is checked against."""

    def __init__(self, registry: SchemaRegistry | None = None) -> None:
        import avro.io
        import avro.schema

        self._avro_io = avro.io
        self._registry = registry or default_registry()
        self._schemas: dict[int, Any] = {}
        self._avro_schema = avro.schema

    def _schema(self, version: SchemaVersion) -> Any:
        schema = self._schemas.get(version.fingerprint)
        if schema is None:
            schema = self._schemas[version.fingerprint] = self._avro_schema.parse(json.dumps(version.wire_definition))
        return schema

    def encode(self, name: str, datum: Mapping[str, Any]) -> bytes:
        version = self._registry.current(name)
        out = io.BytesIO()
        out.write(MAGIC + version.fingerprint.to_bytes(8, "little"))
        self._avro_io.DatumWriter(self._schema(version)).write(dict(datum), self._avro_io.BinaryEncoder(out))
        return out.getvalue()

    def decode(self, payload: bytes) -> Decoded:
        fingerprint = fingerprint_of(payload)
        writer = self._registry.by_fingerprint(fingerprint)
        if writer is None:
            raise _unknown(self._registry, fingerprint)
        current = self._registry.current(writer.short_name)
        reader = self._avro_io.DatumReader(self._schema(writer), self._schema(current))
        body = io.BytesIO(payload)
        body.seek(_HEADER_LEN)
        try:
            datum = reader.read(self._avro_io.BinaryDecoder(body))
        except Exception as exc:
            raise SchemaDecodeError("corrupt_body", f"{writer.short_name} body does not decode: {_cause(exc)}") from exc
        if not isinstance(datum, dict):
            raise SchemaDecodeError("corrupt_body", f"{writer.short_name} decoded to {type(datum).__name__}")
        if body.tell() != len(payload):
            raise _trailing(writer, len(payload), body.tell())
        return Decoded(writer.short_name, datum)
