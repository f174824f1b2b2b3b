"""Avro event contract: schemas, models, the single-object codec and validation rules."""

from schemas.codec import Decoded, EventCodec, ReferenceCodec, SchemaDecodeError
from schemas.models import (
    BATCH_FIELD,
    CollectionRun,
    DataCreated,
    DatasetRegistered,
    Event,
    QualityGrade,
    Source,
    TokenUsage,
    new_event_id,
)
from schemas.registry import SchemaRegistry, default_registry
from schemas.validation import EventRejected, check, max_future_ms

__all__ = [
    "BATCH_FIELD",
    "CollectionRun",
    "DataCreated",
    "DatasetRegistered",
    "Decoded",
    "Event",
    "EventCodec",
    "EventRejected",
    "QualityGrade",
    "ReferenceCodec",
    "SchemaDecodeError",
    "SchemaRegistry",
    "Source",
    "TokenUsage",
    "check",
    "default_registry",
    "max_future_ms",
    "new_event_id",
]
