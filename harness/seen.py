"""A day of event ids straight into ``seen_events``, to prove the resend horizon at national rates.

``python -m harness.seen DSN DATABASE TOPIC PARTITION COUNT HOURS_AGO`` writes COUNT
sightings on TOPIC[PARTITION], spread evenly over the HOURS_AGO hours before now,
with ids ``day_id(n)``, at offsets from 10^12 (beyond any the tests write, so that
a resend is never mistaken for a replay of its own message). It runs as its own
process because a chDB directory is open in one process at a time.
"""

from __future__ import annotations

import sys
import time

from kafka import KafkaProducer

from zettaledger.schemas import EventCodec
from zettaledger.settings import Settings
from zettaledger.sinks.client import connect
from zettaledger.sinks.identifiers import qualified
from zettaledger.sinks.writer import migrate

__all__ = ["OFFSET_BASE", "created", "day_id", "seed", "send"]

OFFSET_BASE = 10**12


def day_id(n: int) -> str:
    """The n-th id of the seeded day (a UUID, as producers send)."""
    return f"00000000-0000-4000-8000-{n:012x}"


def created(event_id: str, event_time: int, bytes_: int = 1) -> bytes:
    """A DataCreated event with no parents, encoded as producers send it."""
    return EventCodec().encode(
        "DataCreated",
        {
            "event_id": event_id,
            "event_time": event_time,
            "producer_id": "horizon",
            "source": "AI",
            "region": "CN-GD",
            "organization": "o",
            "dataset_id": "ds",
            "bytes": bytes_,
            "records": 1,
            "parent_dataset_ids": [],
            "derivation": None,
        },
    )


def send(settings: Settings, values: list[bytes], partition: int = 0) -> None:
    """Raw messages to one partition of the events topic, where the seeded sightings are."""
    raw = KafkaProducer(bootstrap_servers=settings.kafka_servers, max_request_size=8 * 1024 * 1024)
    for value in values:
        raw.send(settings.topic_events, key=b"horizon", value=value, partition=partition)
    raw.flush()
    raw.close()


def seed(dsn: str, database: str, topic: str, partition: int, count: int, hours_ago: float) -> float:
    """Insert the day's sightings; returns the seconds it took."""
    client = connect(dsn)
    try:
        migrate(client, database)
        started = time.perf_counter()
        span_s = int(hours_ago * 3600)
        client.command(
            f"INSERT INTO {qualified(database, 'seen_events')} (topic, kafka_partition, event_id, offset, batch_index, seen_at) "
            "SELECT {topic:String}, {partition:UInt32}, "
            "toUUID(concat('00000000-0000-4000-8000-', leftPad(lower(hex(number)), 12, '0'))), "
            f"{OFFSET_BASE} + number, 0, toDateTime(toUnixTimestamp(now()) - {span_s} + intDiv(number * {span_s}, {count})) "
            f"FROM numbers({int(count)}) SETTINGS max_insert_threads = 2",
            parameters={"topic": topic, "partition": partition},
        )
        return time.perf_counter() - started
    finally:
        client.close()


if __name__ == "__main__":
    dsn, database, topic, partition, count, hours_ago = sys.argv[1:7]
    print(f"{seed(dsn, database, topic, int(partition), int(count), float(hours_ago)):.1f}")
