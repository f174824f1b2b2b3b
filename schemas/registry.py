"""The Avro schemas Zettaledger knows, keyed by name and by fingerprint.

Each ``.avsc`` file under ``schemas/avro`` holds one record; references between
files (``EventBatch`` names ``DataCreated``...) are expanded here so every schema
stands alone. A schema is identified on the wire by its CRC-64-AVRO fingerprint
of the Parsing Canonical Form, computed by Apache ``avro``, the schema authority.

Older versions of a record live under ``schemas/avro/history`` (any file name,
same record name) so that a worker can still read what old producers write.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import avro.schema

from zettaledger.errors import ZettaledgerError

__all__ = ["AVRO_DIR", "SchemaRegistry", "SchemaVersion", "UnknownSchemaError", "default_registry"]

AVRO_DIR = Path(__file__).resolve().parent / "avro"

# Attributes that change no byte on the wire. Stripping them gives decoders
# plain ints and strings (no datetime or UUID objects on the hot path).
_ANNOTATIONS = ("logicalType", "doc")


class UnknownSchemaError(ZettaledgerError):
    """A name or fingerprint that no known schema has."""


@dataclass(frozen=True)
class SchemaVersion:
    """One version of one record schema, expanded to stand alone."""

    name: str
    definition: Mapping[str, Any] = field(repr=False)
    fingerprint: int
    current: bool

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def wire_definition(self) -> dict[str, Any]:
        """The definition without annotations that do not change the encoding."""
        stripped: dict[str, Any] = _strip(copy.deepcopy(dict(self.definition)))
        return stripped


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        kept = {k: _strip(v) for k, v in node.items() if k not in _ANNOTATIONS}
        if set(kept) == {"type"} and kept["type"] in _PRIMITIVES:
            return kept["type"]  # {"type": "long"} is "long" in Parsing Canonical Form
        return kept
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _full_name(definition: Mapping[str, Any], namespace: str | None = None) -> str:
    name = str(definition["name"])
    if "." in name:
        return name
    ns = definition.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _expand(node: Any, known: Mapping[str, Mapping[str, Any]], namespace: str | None, seen: set[str]) -> Any:
    """Inline named references the first time each name appears (Avro allows one definition)."""
    if isinstance(node, str):
        full = node if "." in node else (f"{namespace}.{node}" if namespace else node)
        if full in known and full not in seen:
            seen.add(full)
            target = copy.deepcopy(dict(known[full]))
            target.setdefault("namespace", full.rsplit(".", 1)[0])
            return _expand_record(target, known, seen)
        return node
    if isinstance(node, list):
        return [_expand(v, known, namespace, seen) for v in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed", "error"):
            seen.add(_full_name(node, namespace))
            if node.get("type") in ("record", "error"):
                return _expand_record(node, known, seen, namespace)
            return node
        return {k: (_expand(v, known, namespace, seen) if k in ("type", "items", "values") else v) for k, v in node.items()}
    return node


def _expand_record(
    record: dict[str, Any], known: Mapping[str, Mapping[str, Any]], seen: set[str], namespace: str | None = None
) -> dict[str, Any]:
    ns = record.get("namespace", namespace)
    if "." in str(record["name"]):
        ns = str(record["name"]).rsplit(".", 1)[0]
    seen.add(_full_name(record, namespace))
    record["fields"] = [{**f, "type": _expand(f["type"], known, ns, seen)} for f in record["fields"]]
    return record


def _load_dir(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.avsc"))]


class SchemaRegistry:
    """Schemas read from files: current versions plus any historical ones."""

    def __init__(self, current: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]] = ()) -> None:
        definitions = [dict(d) for d in current]
        known = {_full_name(d): d for d in definitions}
        self._current: dict[str, SchemaVersion] = {}
        self._by_fingerprint: dict[int, SchemaVersion] = {}
        for definition in definitions:
            version = self._make(definition, known, is_current=True)
            self._current[version.short_name] = version
        for old in history:
            version = self._make(dict(old), known, is_current=False)
            self._by_fingerprint.setdefault(version.fingerprint, version)

    @classmethod
    def from_directory(cls, directory: Path = AVRO_DIR, extra_history: Iterable[Path] = ()) -> SchemaRegistry:
        history = _load_dir(directory / "history")
        for extra in extra_history:
            history.extend(_load_dir(extra))
        return cls(_load_dir(directory), history)

    def _make(self, definition: dict[str, Any], known: Mapping[str, Mapping[str, Any]], is_current: bool) -> SchemaVersion:
        expanded = _expand_record(copy.deepcopy(definition), known, set())
        try:
            parsed = avro.schema.parse(json.dumps(_strip(copy.deepcopy(expanded))))
        except (avro.errors.SchemaParseException, ValueError, TypeError) as exc:
            raise UnknownSchemaError(f"schema {definition.get('name')!r} does not parse: {exc}") from exc
        # avro returns the CRC-64-AVRO value as little-endian bytes, as the wire header carries it.
        fingerprint = int.from_bytes(parsed.fingerprint("CRC-64-AVRO"), "little")
        version = SchemaVersion(_full_name(expanded), expanded, fingerprint, is_current)
        self._by_fingerprint[fingerprint] = version
        return version

    def current(self, short_name: str) -> SchemaVersion:
        try:
            return self._current[short_name]
        except KeyError:
            raise UnknownSchemaError(f"no schema named {short_name!r}; known: {', '.join(sorted(self._current))}") from None

    def by_fingerprint(self, fingerprint: int) -> SchemaVersion | None:
        return self._by_fingerprint.get(fingerprint)

    def names(self) -> list[str]:
        return sorted(self._current)


_DEFAULT: SchemaRegistry | None = None


def default_registry() -> SchemaRegistry:
    """The schemas shipped in this package (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SchemaRegistry.from_directory()
    return _DEFAULT
