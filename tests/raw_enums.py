"""Events written with raw enum indexes, as a hostile or broken encoder could write them.

An Avro enum is encoded as an int, the symbol's zero-based position, so writing the
record with each enum's schema replaced by ``int`` gives the exact bytes an encoder
would produce for any index, -1 and past the last symbol included. Written with
fastavro straight from the registry's schema (nothing of the codec under test).
"""

from __future__ import annotations

import io
from typing import Any

import fastavro

from zettaledger.schemas.codec import MAGIC
from zettaledger.schemas.registry import SchemaVersion, default_registry

__all__ = ["written_raw"]


def written_raw(name: str, datum: dict[str, Any], version: SchemaVersion | None = None) -> bytes:
    """``datum`` single-object encoded as ``name`` (current version unless given); an enum value that is
    an int is written as that index, a symbol as its own index."""
    version = version or default_registry().current(name)
    schema = version.wire_definition
    out = io.BytesIO()
    out.write(MAGIC + version.fingerprint.to_bytes(8, "little"))
    fastavro.schemaless_writer(out, fastavro.parse_schema(_ints(schema)), _indexes(schema, datum))
    return out.getvalue()


def _ints(node: Any) -> Any:
    if isinstance(node, list):
        return [_ints(n) for n in node]
    if isinstance(node, dict):
        if node.get("type") == "enum":
            return "int"
        return {k: _ints(v) if k in ("type", "items", "fields") else v for k, v in node.items()}
    return node


def _indexes(node: Any, value: Any) -> Any:
    if isinstance(node, list):  # our unions are [null, X]
        return None if value is None else _indexes(next(n for n in node if n != "null"), value)
    if not isinstance(node, dict):
        return value
    kind = node["type"]
    if kind == "enum":
        return node["symbols"].index(value) if isinstance(value, str) else value
    if kind == "record":
        return {f["name"]: _indexes(f["type"], value[f["name"]]) for f in node["fields"] if f["name"] in value}
    if kind == "array":
        return [_indexes(node["items"], v) for v in value]
    return _indexes(kind, value)
