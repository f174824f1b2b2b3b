"""The Avro schemas Zettaledger knows, keyed by name and by fingerprint.

Each ``.avsc`` file under ``schemas/avro`` holds one record; references between
files (``EventBatch`` names ``DataCreated``...) are expanded here so every schema
stands alone. A schema is identified on the wire by the CRC-64-AVRO fingerprint
of its Parsing Canonical Form, taken over that stand-alone schema (``EventBatch``'s
over the batch with the four event records inlined). Each version is found under
every fingerprint a mainstream library computes for it (``fingerprints.FORMS``:
the specification's, and Apache avro for Python's), one dict lookup either way;
it is written under the specification's.

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
from zettaledger.schemas.fingerprints import FORMS, SPEC, fingerprints

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
    fingerprint: int  # the specification's: the one Zettaledger writes
    current: bool
    # Every accepted fingerprint, keyed by the canonical form that gives it (``fingerprints.FORMS``).
    accepted: Mapping[str, int] = field(default_factory=dict)
    source: str = ""  # the file it was read from, when it was

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


_SOURCE = "__zl_source__"  # where a definition was read from; taken off before the schema is used


def _with_source(definition: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    plain = dict(definition)
    return plain, str(plain.pop(_SOURCE, ""))


def _load_dir(directory: Path) -> list[dict[str, Any]]:
    return [{**json.loads(p.read_text()), _SOURCE: p.name} for p in sorted(directory.glob("*.avsc"))]


class SchemaRegistry:
    """Schemas read from files: current versions plus any historical ones."""

    def __init__(self, current: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]] = ()) -> None:
        definitions = [_with_source(d) for d in current]
        known = {_full_name(d): d for d, _ in definitions}
        self._current: dict[str, SchemaVersion] = {}
        self._history: list[SchemaVersion] = []
        self._by_fingerprint: dict[int, SchemaVersion] = {}
        # Fingerprints refused with a hint: a schema's canonical form taken over named references
        # (fastavro's ``to_parsing_canonical_form`` of a ``parse_schema`` result that names the event
        # records) does not identify the records' versions, so it must never be accepted.
        self._hints: dict[int, str] = {}
        for definition, source in definitions:
            version = self._make(definition, source, known, is_current=True)
            self._current[version.short_name] = version
            self._by_fingerprint.update(dict.fromkeys(version.accepted.values(), version))
            self._hint_by_reference(definition, version)
        for old, source in map(_with_source, history):
            version = self._make(old, source, known, is_current=False)
            self._history.append(version)
            for fingerprint in version.accepted.values():
                self._by_fingerprint.setdefault(fingerprint, version)  # a current version wins
            self._hint_by_reference(old, version)
        for fingerprint in self._by_fingerprint:
            self._hints.pop(fingerprint, None)

    def _hint_by_reference(self, as_written: Mapping[str, Any], version: SchemaVersion) -> None:
        by_reference = SPEC.fingerprint(as_written)
        if by_reference not in version.accepted.values():
            self._hints.setdefault(
                by_reference,
                f"it is {version.short_name}'s fingerprint over the schema with the records it names left as names; "
                "take the fingerprint over the stand-alone schema with those records written out "
                "(fastavro: to_parsing_canonical_form(expand_schema(schema)); see docs/contract.md, 'Which fingerprint')",
            )

    @classmethod
    def from_directory(cls, directory: Path = AVRO_DIR, extra_history: Iterable[Path] = ()) -> SchemaRegistry:
        history = _load_dir(directory / "history")
        for extra in extra_history:
            history.extend(_load_dir(extra))
        return cls(_load_dir(directory), history)

    def _make(
        self, definition: dict[str, Any], source: str, known: Mapping[str, Mapping[str, Any]], is_current: bool
    ) -> SchemaVersion:
        expanded = _expand_record(copy.deepcopy(definition), known, set())
        try:
            avro.schema.parse(json.dumps(_strip(copy.deepcopy(expanded))))  # Apache avro, the authority, must accept it
        except (avro.errors.SchemaParseException, ValueError, TypeError) as exc:
            raise UnknownSchemaError(f"schema {definition.get('name')!r} does not parse: {exc}") from exc
        accepted = fingerprints(expanded, FORMS)
        return SchemaVersion(_full_name(expanded), expanded, accepted[SPEC.key], is_current, accepted, source)

    def current(self, short_name: str) -> SchemaVersion:
        try:
            return self._current[short_name]
        except KeyError:
            raise UnknownSchemaError(f"no schema named {short_name!r}; known: {', '.join(sorted(self._current))}") from None

    def by_fingerprint(self, fingerprint: int) -> SchemaVersion | None:
        return self._by_fingerprint.get(fingerprint)

    def hint(self, fingerprint: int) -> str | None:
        """Why a fingerprint that no version has is a known mistake, when it is one (for the error message)."""
        return self._hints.get(fingerprint)

    def names(self) -> list[str]:
        return sorted(self._current)

    def versions(self) -> list[SchemaVersion]:
        """Every version: the current ones by name, then the historical ones in file order."""
        return [self._current[n] for n in self.names()] + list(self._history)


_DEFAULT: SchemaRegistry | None = None


def default_registry() -> SchemaRegistry:
    """The schemas shipped in this package (loaded once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = SchemaRegistry.from_directory()
    return _DEFAULT
