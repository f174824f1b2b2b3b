"""Ground truth for the fault suite: read the input topic back and count it independently.

Decoding uses Apache ``avro`` (not the worker's fastavro path) and plain loops (not
the worker's Accountant), so a shared bug cannot hide in both. The rules that decide
what counts (validation, first sighting of an event id, lateness against the
partition's stream time) are the documented contract, restated here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from zettaledger.schemas import BATCH_FIELD, EventRejected, ReferenceCodec, SchemaDecodeError, check

DAY_MS = 86_400_000
Cell = tuple[Any, ...]


@dataclass
class Truth:
    cells: dict[Cell, list[int]] = field(default_factory=dict)  # cell -> [events, amount]
    events: int = 0
    rejected: int = 0
    resends: int = 0  # same event id again, at another place
    late: int = 0
    end_offsets: dict[int, int] = field(default_factory=dict)
    ids_on_topic: Counter[str] = field(default_factory=Counter)

    def add(self, cell: Cell, amount: int) -> None:
        slot = self.cells.setdefault(cell, [0, 0])
        slot[0] += 1
        slot[1] += amount

    @property
    def duplicate_ids_on_topic(self) -> int:
        return sum(n - 1 for n in self.ids_on_topic.values() if n > 1)


def cell_of(kind: str, e: dict[str, Any]) -> tuple[Cell, int]:
    day = e["event_time"] // DAY_MS
    if kind == "DataCreated":
        return ("volume", day, e["source"], e["region"]), e["bytes"]
    if kind == "TokenUsage":
        return ("tokens", day, e["model"], e["provider"], e["region"]), e["input_tokens"] + e["output_tokens"]
    if kind == "CollectionRun":
        return ("collection", day, e["pipeline_id"], e["region"]), e["usable_captures"]
    return ("dataset", e["dataset_id"]), e["bytes"]


def read_topic(bootstrap: list[str], topic: str) -> list[tuple[int, int, bytes | None]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=16 * 1024 * 1024)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[tuple[int, int, bytes | None]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000).items():
                for r in records:
                    out.append((r.partition, r.offset, r.value))
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return sorted(out)
    finally:
        consumer.close()


def count(
    messages: list[tuple[int, int, bytes | None]],
    latest_ms: int,
    lateness_ms: int = 48 * 3_600_000,
    counted_again: set[str] | None = None,
) -> Truth:
    """What the ledger must hold. ``counted_again``: resends beyond the dedup horizon, counted twice by design."""
    codec = ReferenceCodec()
    truth = Truth()
    seen: set[str] = set()
    again = set(counted_again or ())
    stream_time: dict[int, int] = {}
    for partition, offset, value in messages:
        truth.end_offsets[partition] = max(truth.end_offsets.get(partition, 0), offset + 1)
        try:
            decoded = codec.decode(value or b"")
        except SchemaDecodeError:
            truth.rejected += 1
            continue
        if decoded.name == "EventBatch":
            events = [(kind, e) for kind, fld in BATCH_FIELD.items() for e in decoded.datum[fld]]
        else:
            events = [(decoded.name, decoded.datum)]
        arrival = stream_time.get(partition)  # lateness is against the stream time before this message
        for kind, e in events:
            truth.ids_on_topic[e["event_id"]] += 1
            try:
                check(kind, e, latest_ms)
            except EventRejected:
                truth.rejected += 1
                continue
            if e["event_id"] in seen:
                if e["event_id"] in again:
                    again.discard(e["event_id"])
                else:
                    truth.resends += 1
                    continue
            seen.add(e["event_id"])
            t = e["event_time"]
            truth.late += 1 if arrival is not None and arrival - t > lateness_ms else 0
            stream_time[partition] = max(stream_time.get(partition, t), t)
            cell, amount = cell_of(kind, e)
            truth.add(cell, amount)
            truth.events += 1
    return truth
