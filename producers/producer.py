"""The producer library: checked, keyed, batched Zettaledger events into Kafka (kafka-python).

``EventProducer.send`` writes one event per message; ``add`` buffers events into
``EventBatch`` envelopes per partition and ``flush`` sends what is left and waits
for every acknowledgement. Events are keyed so that one dataset's events stay
in one partition, in order, and resends of an event reach the worker that saw it.
The producer is idempotent (no duplicates from its own retries) with acks=all.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any, Literal, get_args

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from zettaledger.errors import ZettaledgerError
from zettaledger.kafka_security import KafkaSecurity
from zettaledger.schemas.codec import EventCodec
from zettaledger.schemas.models import BATCH_FIELD, Event, TokenUsage
from zettaledger.schemas.validation import check, max_future_ms
from zettaledger.settings import Settings

__all__ = ["COMPRESSIONS", "Compression", "EventProducer", "ProduceError", "partition_key"]

Compression = Literal["gzip", "snappy", "lz4", "zstd"]
# The codecs Kafka producers use; the worker reads all four (aiokafka, through cramjam).
COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)


class ProduceError(ZettaledgerError):
    """Kafka did not acknowledge some events; none of them can be assumed delivered."""


def partition_key(event: Event) -> bytes:
    """Events of one dataset share a key; token usage is keyed by model, provider and region."""
    if isinstance(event, TokenUsage):
        return f"{event.model}|{event.provider}|{event.region}".encode()
    return event.dataset_id.encode()


class EventProducer:
    def __init__(
        self,
        settings: Settings,
        producer_id: str,
        batch_events: int = 500,
        codec: EventCodec | None = None,
        check_events: bool = True,
        compression: Compression | None = None,
        **kafka_options: Any,
    ) -> None:
        self._settings = settings
        self._topic = settings.topic_events
        self._producer_id = producer_id
        self._batch_events = batch_events
        self._codec = codec or EventCodec()
        self._check = check_events
        options: dict[str, Any] = {
            "bootstrap_servers": settings.kafka_servers,
            "client_id": producer_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 20,
            "batch_size": 512 * 1024,
            "max_request_size": 8 * 1024 * 1024,
            **KafkaSecurity.from_settings(settings).kafka_python_options(),
        }
        if compression is not None:
            if compression not in COMPRESSIONS:
                raise ProduceError(f"compression {compression!r}: one of {', '.join(COMPRESSIONS)}")
            options["compression_type"] = compression
        options.update(kafka_options)
        self._kafka = KafkaProducer(**options)
        partitions = self._kafka.partitions_for(self._topic)
        if not partitions:
            raise ProduceError(f"topic {self._topic} does not exist; create it with `zl topics`")
        self._partitions: list[int] = sorted(partitions)
        self._buffers: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        self._partition_of: dict[bytes, int] = {}  # keys repeat (datasets, models): hash each once
        self._errors: list[BaseException] = []
        self.sent_events = 0
        self.sent_messages = 0

    def _partition_for(self, key: bytes) -> int:
        partition = self._partition_of.get(key)
        if partition is None:
            # The same murmur2 hash Kafka's default partitioner applies to the key.
            partition = self._partitions[(int(murmur2(key)) & 0x7FFFFFFF) % len(self._partitions)]
            if len(self._partition_of) > 1_000_000:
                self._partition_of.clear()
            self._partition_of[key] = partition
        return partition

    def _checked(self, event: Event) -> dict[str, Any]:
        datum = event.to_avro()
        if self._check:
            check(event.schema_name, datum, max_future_ms(int(time.time() * 1000)))
        return datum

    def _on_error(self, exc: BaseException) -> None:
        self._errors.append(exc)

    def send(self, event: Event) -> None:
        """One event in one message (simplest; batches are far faster)."""
        value = self._codec.encode(event.schema_name, self._checked(event))
        self._kafka.send(self._topic, value=value, key=partition_key(event)).add_errback(self._on_error)
        self.sent_events += 1
        self.sent_messages += 1

    def add(self, event: Event) -> None:
        """Buffer an event; a full buffer goes out as one EventBatch message."""
        datum = self._checked(event)
        partition = self._partition_for(partition_key(event))
        buffer = self._buffers.setdefault(partition, [])
        buffer.append((event.schema_name, datum))
        if len(buffer) >= self._batch_events:
            self._send_batch(partition)

    def add_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def _send_batch(self, partition: int) -> None:
        events = self._buffers.pop(partition, [])
        if not events:
            return
        batch: dict[str, Any] = {
            "batch_id": str(uuid.uuid4()),
            "producer_id": self._producer_id,
            "sent_at": int(time.time() * 1000),
            **{name: [] for name in BATCH_FIELD.values()},
        }
        for schema_name, datum in events:
            batch[BATCH_FIELD[schema_name]].append(datum)
        value = self._codec.encode("EventBatch", batch)
        self._kafka.send(self._topic, value=value, partition=partition).add_errback(self._on_error)
        self.sent_events += len(events)
        self.sent_messages += 1

    def flush(self, timeout_s: float = 120.0) -> None:
        """Send buffered batches and wait for all acknowledgements; raise if any failed."""
        for partition in list(self._buffers):
            self._send_batch(partition)
        self._kafka.flush(timeout=timeout_s)
        if self._errors:
            first = self._errors[0]
            count = len(self._errors)
            self._errors.clear()
            raise ProduceError(f"{count} message(s) were not acknowledged by Kafka, first: {first!r}; send them again")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._kafka.close()

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
