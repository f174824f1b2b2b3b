"""Python shapes of the events, for producers. Field names and order equal the ``.avsc`` files (tested).

The worker's hot path reads plain dicts; these classes exist so that producer code
is typed and an event is built once, checked, then encoded.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, ClassVar

__all__ = [
    "CollectionRun",
    "DataCreated",
    "DatasetRegistered",
    "Derivation",
    "Event",
    "QualityGrade",
    "Source",
    "TokenUsage",
    "derivation_of",
    "new_event_id",
]


def new_event_id() -> str:
    return str(uuid.uuid4())


class Source(StrEnum):
    OTHER = "OTHER"
    IOT = "IOT"
    AI = "AI"  # AI and system software
    TRAINING = "TRAINING"
    INFERENCE = "INFERENCE"


class Derivation(StrEnum):
    ORIGINAL = "ORIGINAL"  # new data: created or captured, derived from no other dataset
    DERIVED = "DERIVED"  # computed from its parents
    COPY = "COPY"  # a replica of a parent: counted as replicated, not as new data


def derivation_of(parents: Sequence[str]) -> str:
    """The derivation of a DataCreated event that does not state one (every writer before the field existed)."""
    return Derivation.DERIVED if parents else Derivation.ORIGINAL


class QualityGrade(StrEnum):
    UNGRADED = "UNGRADED"
    STANDARD = "STANDARD"
    HIGH = "HIGH"


class _Record:
    schema_name: ClassVar[str]
    _plain: ClassVar[tuple[str, ...]]
    _enums: ClassVar[tuple[str, ...]]
    _lists: ClassVar[tuple[str, ...]]

    def to_avro(self) -> dict[str, Any]:
        cls = type(self)
        if "_plain" not in cls.__dict__:  # field kinds worked out once per class, not per event
            hints = {f.name: str(f.type) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
            cls._enums = tuple(n for n, t in hints.items() if t in ("Source", "QualityGrade"))
            cls._lists = tuple(n for n, t in hints.items() if t.startswith("tuple"))
            cls._plain = tuple(n for n in hints if n not in cls._enums and n not in cls._lists)
        out = {name: getattr(self, name) for name in cls._plain}
        for name in cls._enums:
            value = getattr(self, name)
            out[name] = value.value if isinstance(value, Enum) else value
        for name in cls._lists:
            out[name] = list(getattr(self, name))
        return out


@dataclass(frozen=True, slots=True)
class DataCreated(_Record):
    schema_name: ClassVar[str] = "DataCreated"
    event_id: str
    event_time: int
    producer_id: str
    source: Source
    region: str
    organization: str
    dataset_id: str
    bytes: int
    records: int
    parent_dataset_ids: tuple[str, ...] = field(default=())
    derivation: Derivation | None = None  # None: derived from the parents when there are any, else original


@dataclass(frozen=True, slots=True)
class TokenUsage(_Record):
    schema_name: ClassVar[str] = "TokenUsage"
    event_id: str
    event_time: int
    producer_id: str
    model: str
    provider: str
    region: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class DatasetRegistered(_Record):
    schema_name: ClassVar[str] = "DatasetRegistered"
    event_id: str
    event_time: int
    producer_id: str
    dataset_id: str
    owner: str
    region: str
    bytes: int
    quality_grade: QualityGrade
    registration_id: str | None = None
    parent_dataset_ids: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class CollectionRun(_Record):
    schema_name: ClassVar[str] = "CollectionRun"
    event_id: str
    event_time: int
    producer_id: str
    pipeline_id: str
    region: str
    dataset_id: str
    attempted_captures: int
    usable_captures: int
    attempted_bytes: int
    usable_bytes: int


Event = DataCreated | TokenUsage | DatasetRegistered | CollectionRun

# The field of EventBatch that carries each record type.
BATCH_FIELD: dict[str, str] = {
    "DataCreated": "data_created",
    "TokenUsage": "token_usage",
    "DatasetRegistered": "datasets_registered",
    "CollectionRun": "collection_runs",
}
