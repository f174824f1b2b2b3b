"""Producers that use their own Avro library, through the real broker and worker: every event counted, none dead-lettered.

Each library frames with its own fingerprint: Apache avro for Python (whose
canonical form differs from the specification's), fastavro, and Apache avro for
Java (its BinaryMessageEncoder, run by tests/interop/java).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.integration.conftest import Pipeline
from tests.integration.test_pipeline import accounts_of
from tests.unit.samples import SAMPLES
from tests.unit.test_avro_interop import _apache_encode, _fastavro_encode, _java_output, needs_java
from zettaledger.schemas import EventCodec
from zettaledger.sinks.client import Client

pytestmark = pytest.mark.integration


def _created(region: str, bytes_: int) -> dict[str, Any]:
    return {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4()), "region": region, "bytes": bytes_, "parent_dataset_ids": []}


@needs_java
def test_events_written_by_apache_avro_python_fastavro_and_java_are_all_counted(
    pipeline: Pipeline, open_chdb: Callable[[Path], Client]
) -> None:
    python_events = [_created("CN-AP", 1_000 + i) for i in range(20)]
    fastavro_events = [_created("CN-FA", 50_000 + i) for i in range(20)]
    java_payloads = [bytes.fromhex(_java_output()["event"][name]) for name in ("DataCreated", "TokenUsage", "EventBatch")]
    payloads = (
        [_apache_encode("DataCreated", e) for e in python_events]
        + [_fastavro_encode("DataCreated", e) for e in fastavro_events]
        + java_payloads
    )
    raw = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_servers, max_request_size=8 * 1024 * 1024)
    for payload in payloads:
        raw.send(pipeline.settings.topic_events, key=b"interop", value=payload)
    raw.flush()
    raw.close()
    pipeline.run_worker()

    codec = EventCodec()
    java_created = [codec.decode(java_payloads[0]).datum, *codec.decode(java_payloads[2]).datum["data_created"]]
    java_ids = {e["event_id"].lower() for e in java_created}
    java_bytes = sum(e["bytes"] for e in {e["event_id"].lower(): e for e in java_created}.values())
    accounts = accounts_of(pipeline, open_chdb)
    year = 2025
    assert accounts.dead_lettered == 0
    assert accounts.created_total(year) == sum(e["bytes"] for e in python_events + fastavro_events) + java_bytes
    assert accounts.events_counted >= len(python_events) + len(fastavro_events) + len(java_ids)
