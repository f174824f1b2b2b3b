"""The fingerprints under which a schema is known on the wire, and why there is more than one.

A single-object header carries the CRC-64-AVRO fingerprint of the writer schema's
Parsing Canonical Form (PCF). Every mainstream library computes the same CRC,
but not every one renders the same canonical form of our schemas:

- ``spec``: the PCF as the Avro specification defines it. fastavro
  (``to_parsing_canonical_form``), Apache avro for Java
  (``SchemaNormalization.parsingFingerprint64`` and ``BinaryMessageEncoder``) and
  Zettaledger's own producer compute this one.
- ``avro-python``: Apache avro for Python (1.11 and 1.12,
  ``Schema.fingerprint()``) keeps a primitive type written as a JSON object with
  an attribute besides ``type`` and ``doc`` (our ``logicalType``\\ s) as
  ``{"type":"string"}`` where the specification's PRIMITIVES rule writes
  ``"string"``; and it writes a ``fixed`` out in full at every use, where the
  specification names it after the first (our schemas have no ``fixed``).
  Every other rule is the specification's.

The worker accepts every form's fingerprint as the same schema (the body bytes are
identical); ``FORMS`` is the list, published in ``docs/contract.md`` by
``python -m zettaledger.schemas.contract``. Each form is rendered here by a
rule rather than by calling the library, so what the worker accepts does not
change with the version of a library installed beside it; tests pin each rule to
what the library itself computes, so an upgrade that changes a form is noticed.

Pure: imports nothing of ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AVRO_PYTHON", "FORMS", "SPEC", "CanonicalForm", "crc64_avro", "fingerprints", "header_hex", "parsing_canonical_form"]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
_ORDER = ("name", "type", "fields", "symbols", "items", "values", "size")
_EMPTY = 0xC15D213AA4D7A795  # the CRC-64-AVRO seed (the specification's EMPTY)


def _table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _table()


def crc64_avro(data: bytes) -> int:
    """The Avro specification's 64-bit Rabin fingerprint (CRC-64-AVRO) of ``data``."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


def header_hex(fingerprint: int) -> str:
    """The 8 fingerprint bytes as they follow ``C3 01`` in a single-object header (little-endian), in hex."""
    return fingerprint.to_bytes(8, "little").hex()


def _full(name: str, namespace: str | None) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


@dataclass(frozen=True)
class _Walk:
    """One rendering: the named types defined so far, and the variant's departures from the specification."""

    seen: dict[str, Any]  # full name -> its canonical definition
    avro_python: bool

    def node(self, node: Any, namespace: str | None) -> Any:
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return node
            full = _full(node, namespace)
            if self.avro_python and isinstance(self.seen.get(full), dict) and self.seen[full]["type"] == "fixed":
                return self.seen[full]  # avro-python writes a fixed out again at every use
            return full
        if isinstance(node, list):
            return [self.node(branch, namespace) for branch in node]
        if not isinstance(node, Mapping):
            raise TypeError(f"not an Avro schema node: {node!r}")
        kind = node["type"]
        if not isinstance(kind, str) or (kind not in _PRIMITIVES and kind not in _NAMED and kind not in ("array", "map")):
            return self.node(kind, namespace)  # {"type": <schema>} wraps a schema
        if kind in _PRIMITIVES:
            annotated = self.avro_python and bool(set(node) - {"type", "doc"})
            return {"type": kind} if annotated else kind
        out: dict[str, Any] = {}
        full = ""
        if kind in _NAMED:
            name = str(node["name"])
            namespace = name.rsplit(".", 1)[0] if "." in name else node.get("namespace", namespace)
            full = _full(name, namespace)
            if full in self.seen:  # a later use of a named type is its full name
                return self.node(full, namespace)
            self.seen[full] = None  # defined from here on (a record may name itself)
            out["name"] = full
        out["type"] = kind
        if kind in ("record", "error"):
            out["fields"] = [{"name": f["name"], "type": self.node(f["type"], namespace)} for f in node["fields"]]
        elif kind == "enum":
            out["symbols"] = list(node["symbols"])
        elif kind == "array":
            out["items"] = self.node(node["items"], namespace)
        elif kind == "map":
            out["values"] = self.node(node["values"], namespace)
        elif kind == "fixed":
            out["size"] = int(node["size"])
        canonical = {k: out[k] for k in _ORDER if k in out}
        if full:
            self.seen[full] = canonical
        return canonical


def parsing_canonical_form(schema: Any, avro_python: bool = False) -> str:
    """The Parsing Canonical Form of a stand-alone schema (named types defined at first use).

    ``avro_python`` renders Apache avro for Python's variant (see the module docstring).
    """
    tree = _Walk({}, avro_python).node(schema, None)
    return json.dumps(tree, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class CanonicalForm:
    """One way a mainstream library renders the canonical form, and who computes it."""

    key: str
    libraries: str
    rule: str
    avro_python: bool

    def render(self, schema: Any) -> str:
        return parsing_canonical_form(schema, self.avro_python)

    def fingerprint(self, schema: Any) -> int:
        return crc64_avro(self.render(schema).encode("utf-8"))


SPEC = CanonicalForm(
    "spec",
    "Avro specification; fastavro; Apache avro for Java (`SchemaNormalization`, `BinaryMessageEncoder`); Zettaledger's producer",
    "Parsing Canonical Form as specified",
    avro_python=False,
)
AVRO_PYTHON = CanonicalForm(
    "avro-python",
    "Apache avro for Python 1.11 and 1.12 (`avro.schema.Schema.fingerprint()`)",
    'as specified, except that a primitive written as an object with a `logicalType` stays an object: `{"type":"string"}`, '
    'not `"string"` (and a `fixed`, which our schemas do not use, is written out at every use)',
    avro_python=True,
)
# The first form is the one Zettaledger writes; every form's fingerprint is accepted.
FORMS: tuple[CanonicalForm, ...] = (SPEC, AVRO_PYTHON)


def fingerprints(schema: Any, forms: Sequence[CanonicalForm] = FORMS) -> dict[str, int]:
    """Each form's CRC-64-AVRO fingerprint of a stand-alone schema, keyed by the form's ``key``."""
    return {form.key: form.fingerprint(schema) for form in forms}
