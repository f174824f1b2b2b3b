"""Avro event contract: schemas, models, the single-object codec and validation rules."""

if __name__ != "zettaledger.schemas":  # one module, one name: see the README's "Layout"
    raise ImportError(f"import zettaledger.schemas, not {__name__}: the schemas/ folder is installed as zettaledger.schemas")

from zettaledger.schemas.codec import Decoded, EventCodec, ReferenceCodec, SchemaDecodeError
from zettaledger.schemas.models import (
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
from zettaledger.schemas.registry import SchemaRegistry, default_registry
from zettaledger.schemas.validation import EventRejected, check, max_future_ms

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
