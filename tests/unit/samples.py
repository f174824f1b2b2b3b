"""Valid events for unit tests, as the plain dicts the codec reads and writes."""

from __future__ import annotations

from typing import Any

from zettaledger.schemas.models import BATCH_FIELD

T_2025_01_01 = 1_735_689_600_000

SAMPLES: dict[str, dict[str, Any]] = {
    "DataCreated": {
        "event_id": "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c01",
        "event_time": T_2025_01_01,
        "producer_id": "unit",
        "source": "AI",
        "region": "CN-GD",
        "organization": "org-1",
        "dataset_id": "ds-child",
        "bytes": 2**63 - 1,
        "records": 42,
        "parent_dataset_ids": ["ds-parent"],
        "derivation": None,
    },
    "TokenUsage": {
        "event_id": "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c02",
        "event_time": T_2025_01_01,
        "producer_id": "unit",
        "model": "m-1",
        "provider": "p-1",
        "region": "CN-BJ",
        "input_tokens": 700,
        "output_tokens": 300,
    },
    "DatasetRegistered": {
        "event_id": "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c03",
        "event_time": T_2025_01_01,
        "producer_id": "unit",
        "dataset_id": "ds-child",
        "owner": "org-1",
        "region": "CN-SH",
        "bytes": 10**15,
        "quality_grade": "HIGH",
        "registration_id": "REG-1",
        "parent_dataset_ids": ["ds-parent"],
    },
    "CollectionRun": {
        "event_id": "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c04",
        "event_time": T_2025_01_01,
        "producer_id": "unit",
        "pipeline_id": "robot-1",
        "region": "CN-ZJ",
        "dataset_id": "ds-robot",
        "attempted_captures": 100,
        "usable_captures": 95,
        "attempted_bytes": 1000,
        "usable_bytes": 950,
    },
}


def batch_of(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    batch: dict[str, Any] = {
        "batch_id": "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6cff",
        "producer_id": "unit",
        "sent_at": T_2025_01_01,
        **{field: [] for field in BATCH_FIELD.values()},
    }
    for name, datum in events:
        batch[BATCH_FIELD[name]].append(datum)
    return batch
