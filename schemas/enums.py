"""Enums decoded as their index, then checked and mapped to symbols here: fastavro's reader does not check the index.

fastavro reads an enum as ``symbols[index]`` with Python indexing, so a crafted index -1
(zigzag byte ``01``) decoded as the last symbol where Apache avro refuses it (issue 10,
finding 9). An enum is encoded as an int, its zero-based position, so the codec reads
through a variant of each schema whose enums are ``int`` (``int_variant``) and maps each
index through a table made once per writer schema (``EnumPlan``): a dict from the
writer's index to the reader's symbol, where an index out of range, negative or past the
last symbol, is a miss and never wraps. The table also does what Avro schema resolution
does with a symbol the reader lacks (the reader enum's default), which fastavro did
before; a symbol that a reader's field default supplies maps to itself.

Only the places our schemas put enums are walked: a record's field, optionally null,
in records nested as fields or array items. An enum anywhere else (an array item, a map
value, a union with other branches) is refused when the codec is built, so a new schema
cannot slip past the check: extend this module first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zettaledger.errors import ZettaledgerError

__all__ = ["EnumIndexError", "EnumPlan", "UnsupportedEnumError", "int_variant"]

_NAMED = ("record", "error", "enum", "fixed")


class EnumIndexError(ZettaledgerError):
    """A decoded enum index that names no symbol; the message names the field and the index."""


class UnsupportedEnumError(ZettaledgerError):
    """A schema puts an enum where ``EnumPlan`` does not look, so its indexes would go unchecked."""


# -- names -------------------------------------------------------------------------------


def _full_name(node: Mapping[str, Any], namespace: str) -> str:
    name = str(node["name"])
    if "." in name:
        return name
    ns = node.get("namespace", namespace)
    return f"{ns}.{name}" if ns else name


def _space(full_name: str) -> str:
    return full_name.rpartition(".")[0]


def _named_types(node: Any, namespace: str = "", out: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Every named type a stand-alone schema defines, by full name (references name them later)."""
    out = {} if out is None else out
    if isinstance(node, list):
        for branch in node:
            _named_types(branch, namespace, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in _NAMED:
            full = _full_name(node, namespace)
            out[full] = node
            for f in node.get("fields", ()):
                _named_types(f["type"], _space(full), out)
        elif kind == "array":
            _named_types(node["items"], namespace, out)
        elif kind == "map":
            _named_types(node["values"], namespace, out)
        else:
            _named_types(kind, namespace, out)
    return out


class _Names:
    """One schema's named types, and a name in a namespace resolved to its definition."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        self.types = _named_types(dict(definition))

    def resolve(self, node: Any, namespace: str) -> Any:
        """``node`` with a reference (a name) replaced by the definition, and ``{"type": X}`` by X."""
        while True:
            if isinstance(node, str):
                full = node if "." in node else (f"{namespace}.{node}" if namespace else node)
                return self.types.get(full, self.types.get(node, node))
            if isinstance(node, dict) and node.get("type") not in (*_NAMED, "array", "map"):
                node = node["type"]
                continue
            return node

    def has_enum(self, node: Any, namespace: str, seen: frozenset[str] = frozenset()) -> bool:
        node = self.resolve(node, namespace)
        if isinstance(node, list):
            return any(self.has_enum(b, namespace, seen) for b in node)
        if not isinstance(node, dict):
            return False
        kind = node["type"]
        if kind == "enum":
            return True
        if kind == "array":
            return self.has_enum(node["items"], namespace, seen)
        if kind == "map":
            return self.has_enum(node["values"], namespace, seen)
        if kind in ("record", "error"):
            full = _full_name(node, namespace)
            if full in seen:
                return False
            return any(self.has_enum(f["type"], _space(full), seen | {full}) for f in node["fields"])
        return False


# -- the int variant -----------------------------------------------------------------------


def int_variant(definition: Mapping[str, Any]) -> dict[str, Any]:
    """``definition`` with every enum, and every reference to one, read as ``int`` (its encoding).

    A field default stays the symbol it names: parse the variant with fastavro's
    ``_ignore_default_error`` (Apache avro validated the defaults when the registry loaded
    the schema), and ``EnumPlan`` maps such a symbol to itself.
    """
    names = _Names(definition)
    enums = {full for full, node in names.types.items() if node["type"] == "enum"}
    variant: dict[str, Any] = _as_int(dict(definition), "", enums)
    return variant


def _as_int(node: Any, namespace: str, enums: set[str]) -> Any:
    if isinstance(node, str):
        full = node if "." in node else (f"{namespace}.{node}" if namespace else node)
        return "int" if full in enums or node in enums else node
    if isinstance(node, list):
        return [_as_int(b, namespace, enums) for b in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind == "enum":
        return "int"
    if kind in ("record", "error"):
        space = _space(_full_name(node, namespace))
        return {**node, "fields": [{**f, "type": _as_int(f["type"], space, enums)} for f in node["fields"]]}
    if kind == "array":
        return {**node, "items": _as_int(node["items"], namespace, enums)}
    if kind == "map":
        return {**node, "values": _as_int(node["values"], namespace, enums)}
    if kind == "fixed":
        return node
    return {**node, "type": _as_int(kind, namespace, enums)}


# -- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EnumField:
    """One enum field of a record: the decoded value (the writer's index) goes through ``table``."""

    field: str  # the reader's name for it: the key in the decoded dict
    table: Mapping[object, str | None]
    enum: str  # the writer's enum, for messages
    writer_symbols: tuple[str, ...]
    reader: str  # the reader's enum, for messages
    optional: bool  # a union with null: None stays None (and is not looked up: most DataCreated have no derivation)


@dataclass(frozen=True, slots=True)
class _Nested:
    """A field holding records that have enums: one record (or null), or an array of them."""

    field: str
    plan: EnumPlan
    many: bool


def _table(writer: Mapping[str, Any], reader: Mapping[str, Any], optional: bool) -> dict[object, str | None]:
    """Writer index -> the reader's symbol, as Avro resolves enums; a reader's symbol -> itself (a default)."""
    reader_symbols = list(reader["symbols"])
    default = reader.get("default")
    table: dict[object, str | None] = {}
    for index, symbol in enumerate(writer["symbols"]):
        if symbol in reader_symbols:
            table[index] = symbol
        elif default is not None:
            table[index] = default
    table.update({s: s for s in reader_symbols})
    if optional:
        table[None] = None
    return table


class EnumPlan:
    """Where one writer schema's enums are and how each index maps to a symbol; ``apply`` maps a decoded record."""

    __slots__ = ("enums", "nested")

    def __init__(self, enums: Sequence[_EnumField] = (), nested: Sequence[_Nested] = ()) -> None:
        self.enums = tuple(enums)
        self.nested = tuple(nested)

    def __bool__(self) -> bool:
        return bool(self.enums or self.nested)

    @classmethod
    def of(cls, writer: Mapping[str, Any], reader: Mapping[str, Any] | None = None) -> EnumPlan:
        """The plan for records written with ``writer`` and read as ``reader`` (None: the writer itself)."""
        w_names = _Names(writer)
        r_names = _Names(reader) if reader is not None else w_names
        return _record_plan(dict(writer), dict(reader or writer), "", "", w_names, r_names, frozenset())

    def apply(self, datum: dict[str, Any]) -> None:
        """Replace every enum index in ``datum`` by its symbol, in place; ``EnumIndexError`` for one that has none."""
        _apply(self, [datum], _top)


def _top(_: int) -> str:
    return ""


def _apply(plan: EnumPlan, records: list[dict[str, Any]], path: Callable[[int], str]) -> None:
    """The hot path: one tight loop per enum field over the records of a kind (a batch's 1000 DataCreated),
    a dict probe each; ``path(i)`` (where ``records[i]`` is) and the reason are worked out only after a miss."""
    for enum in plan.enums:
        name, table = enum.field, enum.table
        try:
            if enum.optional:
                for record in records:
                    value = record[name]
                    if value is not None:
                        record[name] = table[value]
            else:
                for record in records:
                    record[name] = table[record[name]]
        except (KeyError, TypeError):
            raise _refused(enum, records, path) from None
    for nested in plan.nested:
        name = nested.field
        for i, record in enumerate(records):
            value = record[name]
            if nested.many:
                _apply(nested.plan, value, _item_path(path, i, name))
            elif value is not None:
                _apply(nested.plan, [value], _field_path(path, i, name))


def _item_path(path: Callable[[int], str], parent: int, name: str) -> Callable[[int], str]:
    return lambda i: f"{path(parent)}{name}[{i}]."


def _field_path(path: Callable[[int], str], parent: int, name: str) -> Callable[[int], str]:
    return lambda _: f"{path(parent)}{name}."


def _refused(enum: _EnumField, records: list[dict[str, Any]], path: Callable[[int], str]) -> EnumIndexError:
    table = enum.table
    for i, record in enumerate(records):
        value = record[enum.field]
        try:
            if value in table:
                continue
        except TypeError:  # unhashable: not an index at all
            pass
        where = f"{path(i)}{enum.field}"
        count = len(enum.writer_symbols)
        if isinstance(value, int) and 0 <= value < count:
            symbol = enum.writer_symbols[value]
            return EnumIndexError(
                f"field {where} holds {symbol} (index {value} of {enum.enum}), which this worker's {enum.reader} "
                "does not have and has no default for; deploy the worker with the schema that adds it"
            )
        return EnumIndexError(
            f"field {where} holds enum index {str(value)[:40]}, out of range: {enum.enum} has {count} symbols "
            f"(indexes 0 to {count - 1}); the producer's encoder wrote an index that names no symbol: fix it and send the event again"
        )
    return EnumIndexError(f"field {enum.field} of {enum.enum} did not map")  # not reached: a probe missed above


def _record_plan(
    writer: dict[str, Any],
    reader: dict[str, Any],
    w_space: str,
    r_space: str,
    w_names: _Names,
    r_names: _Names,
    building: frozenset[str],
) -> EnumPlan:
    w_full, r_full = _full_name(writer, w_space), _full_name(reader, r_space)
    if w_full in building:
        raise UnsupportedEnumError(f"{w_full} is recursive; the enum check does not follow recursive records")
    building |= {w_full}
    w_space, r_space = _space(w_full), _space(r_full)
    by_name = {f["name"]: f for f in reader["fields"]}
    by_alias = {a: f for f in reader["fields"] for a in f.get("aliases", ())}
    enums: list[_EnumField] = []
    nested: list[_Nested] = []
    for wf in writer["fields"]:
        rf = by_name.get(wf["name"]) or by_alias.get(wf["name"])
        if rf is None or not (w_names.has_enum(wf["type"], w_space) or r_names.has_enum(rf["type"], r_space)):
            continue  # skipped by the reader, or nothing to check (a reader's enum met by a writer's int is checked too)
        where = f"{w_full}.{wf['name']}"
        w_type, r_type = w_names.resolve(wf["type"], w_space), r_names.resolve(rf["type"], r_space)
        w_inner, w_optional = _optional(w_type, w_names, w_space, where)
        r_inner, r_optional = _optional(r_type, r_names, r_space, where)
        kind = w_inner.get("type") if isinstance(w_inner, dict) else None
        r_kind = r_inner.get("type") if isinstance(r_inner, dict) else None
        if kind == "enum" and r_kind == "enum":
            optional = w_optional or r_optional
            table = _table(w_inner, r_inner, optional)
            symbols = tuple(w_inner["symbols"])
            enums.append(_EnumField(rf["name"], table, _short(w_inner), symbols, _short(r_inner), optional))
        elif kind in ("record", "error") and r_kind == kind:
            plan = _record_plan(w_inner, r_inner, w_space, r_space, w_names, r_names, building)
            nested.append(_Nested(rf["name"], plan, many=False))
        elif kind == "array" and r_kind == "array":
            w_item, r_item = w_names.resolve(w_inner["items"], w_space), r_names.resolve(r_inner["items"], r_space)
            if not (isinstance(w_item, dict) and w_item.get("type") in ("record", "error") and isinstance(r_item, dict)):
                raise _unsupported(where, "an array whose items are not records")
            plan = _record_plan(w_item, r_item, w_space, r_space, w_names, r_names, building)
            nested.append(_Nested(rf["name"], plan, many=True))
        else:
            raise _unsupported(where, "a type other than an enum, a record or an array of records (or one of them or null)")
    return EnumPlan(enums, nested)


def _short(named: Mapping[str, Any]) -> str:
    return str(named["name"]).rpartition(".")[2]


def _optional(node: Any, names: _Names, namespace: str, where: str) -> tuple[Any, bool]:
    """The non-null branch of ``["null", X]`` (and True), or ``node`` itself (and False)."""
    if not isinstance(node, list):
        return node, False
    branches = [names.resolve(b, namespace) for b in node if b != "null"]
    if len(branches) != 1 or len(node) != 2:
        raise _unsupported(where, f"a union of {len(node)} branches (only X or null is read)")
    return branches[0], True


def _unsupported(where: str, what: str) -> UnsupportedEnumError:
    return UnsupportedEnumError(
        f"{where} holds an enum in {what}; the codec would not check its indexes: "
        "extend zettaledger.schemas.enums (EnumPlan) before shipping this schema"
    )
