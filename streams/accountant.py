"""Turns a batch of Kafka messages into one flush: the arithmetic of the pipeline, without Faust.

For each message: skip it if the ledger already holds its offset (a replay after
a restart); decode it (a single event or an ``EventBatch``); check each event;
drop resends (``DedupWindow``); add what is left into cells. Anything that cannot
be counted becomes a ``DeadLetter`` with the field, value and reason. The result
is a ``FlushPlan`` that the sink writes in one insert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zettaledger.schemas.codec import EventCodec, SchemaDecodeError
from zettaledger.schemas.models import BATCH_FIELD
from zettaledger.schemas.validation import EARLIEST_EVENT_MS, UUID_PATTERN, VALID_REGIONS, EventRejected, check, max_future_ms
from zettaledger.sinks.ledger import COLUMNS, Flush, Kind
from zettaledger.streams.dedup import DedupWindow

__all__ = ["Accountant", "DeadLetter", "FlushPlan", "Message", "TallyStats"]

_MS_PER_DAY = 86_400_000
_INDEX = {c.name: i for i, c in enumerate(COLUMNS)}
_BLANK = tuple(c.default for c in COLUMNS)


@dataclass(frozen=True, slots=True)
class Message:
    """A Kafka message as the accountant sees it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that was not counted, where it came from and why."""

    topic: str
    partition: int
    offset: int
    batch_index: int | None
    payload: bytes
    event_type: str
    error: str  # short code: invalid_field, unknown_schema, corrupt_body, not_single_object, empty
    field: str
    value: str
    reason: str

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers in the style of Kafka Connect's dead-letter context."""
        pairs = {
            "zl.error.code": self.error,
            "zl.error.field": self.field,
            "zl.error.value": self.value,
            "zl.error.reason": self.reason,
            "zl.event.type": self.event_type,
            "zl.source.topic": self.topic,
            "zl.source.partition": str(self.partition),
            "zl.source.offset": str(self.offset),
        }
        if self.batch_index is not None:
            pairs["zl.source.batch_index"] = str(self.batch_index)
        return [(k, v.encode("utf-8")) for k, v in pairs.items()]


@dataclass
class TallyStats:
    messages: int = 0
    replayed_messages: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    late: int = 0  # beyond the lateness limit: counted, as adjustments
    bytes: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FlushPlan:
    flush: Flush
    dead_letters: list[DeadLetter]
    stats: TallyStats
    watermarks: dict[tuple[str, int], int]  # highest offset per topic-partition once this flush is written

    @property
    def empty(self) -> bool:
        return not self.flush.rows


def _row(kind: Kind, **values: Any) -> tuple[object, ...]:
    row = list(_BLANK)
    row[0] = kind.value
    for name, value in values.items():
        row[_INDEX[name]] = value
    return tuple(row)


class _Segment:
    __slots__ = ("duplicates", "events", "first", "last", "rejected")

    def __init__(self, offset: int) -> None:
        self.first = offset
        self.last = offset
        self.events = 0
        self.duplicates = 0
        self.rejected = 0


class Accountant:
    """Stateful across batches only in what it must be: offsets already written, and the dedup window."""

    def __init__(
        self,
        codec: EventCodec,
        dedup: DedupWindow,
        watermarks: dict[tuple[str, int], int] | None = None,
        clock_ms: Callable[[], int] | None = None,
        stream_times: dict[tuple[str, int], int] | None = None,
        lateness_ms: int = 48 * 3_600_000,
    ) -> None:
        import time

        self._codec = codec
        self._dedup = dedup
        self._watermarks: dict[tuple[str, int], int] = dict(watermarks or {})
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        # Stream time: the latest event time seen per partition. An event more than
        # lateness_ms behind it still counts in its own day, flagged as an adjustment.
        self._stream_times: dict[tuple[str, int], int] = dict(stream_times or {})
        self._lateness_ms = lateness_ms

    @property
    def dedup(self) -> DedupWindow:
        return self._dedup

    @property
    def watermarks(self) -> dict[tuple[str, int], int]:
        """Highest offset in the ledger per topic-partition (a copy)."""
        return dict(self._watermarks)

    def written_through(self, topic: str, partition: int) -> int:
        """Highest offset already in the ledger, or -1."""
        return self._watermarks.get((topic, partition), -1)

    def catch_up(self, watermarks: dict[tuple[str, int], int]) -> None:
        """Adopt offsets another writer put in the ledger (after a rebalance), so they are skipped."""
        for tp, offset in watermarks.items():
            if offset > self._watermarks.get(tp, -1):
                self._watermarks[tp] = offset

    def committed(self, plan: FlushPlan) -> None:
        """Call once the plan's flush is durably written."""
        for tp, offset in plan.watermarks.items():
            if offset > self._watermarks.get(tp, -1):
                self._watermarks[tp] = offset

    def account(self, messages: Sequence[Message]) -> FlushPlan:
        now_ms = self._clock_ms()
        now_s = now_ms // 1000
        latest_ms = max_future_ms(now_ms)
        self._dedup.expire(now_s)
        tally = _Tally(self._dedup, now_s, latest_ms, self._stream_times, self._lateness_ms)
        stats = tally.stats
        for message in messages:
            stats.messages += 1
            if message.offset <= self.written_through(message.topic, message.partition):
                stats.replayed_messages += 1
                continue
            tally.message(message, self._codec)
        return tally.plan()


class _Tally:
    """The cells of one flush."""

    def __init__(
        self, dedup: DedupWindow, now_s: int, latest_ms: int, stream_times: dict[tuple[str, int], int], lateness_ms: int
    ) -> None:
        self.dedup = dedup
        self.stream_times = stream_times
        self.lateness_ms = lateness_ms
        self.arrival_time: int | None = None
        self.message_max_time = -1
        self.now_s = now_s
        self.latest_ms = latest_ms
        self.stats = TallyStats()
        self.segments: dict[tuple[str, int], _Segment] = {}
        self.volume: dict[tuple[int, str, str, int], list[int]] = {}
        self.tokens: dict[tuple[int, str, str, str, int], list[int]] = {}
        self.collection: dict[tuple[int, str, str, int], list[int]] = {}
        self.lineage: dict[tuple[str, str], list[int]] = {}
        self.rejections: dict[tuple[str, str], int] = {}
        self.datasets: list[tuple[object, ...]] = []
        # seen_events as columns (topic, partition, event_id, offset, batch_index, seen_at):
        # inserted column-oriented, which is faster than rows for the busiest table.
        self.seen_topic: list[str] = []
        self.seen_partition: list[int] = []
        self.seen_id: list[str] = []
        self.seen_offset: list[int] = []
        self.seen_index: list[int] = []
        self.dead_letters: list[DeadLetter] = []
        self.codec: EventCodec | None = None
        self.sealed: dict[str, tuple[int, int, int, int]] | None = None  # sealed sightings of the batch's ids

    def message(self, message: Message, codec: EventCodec) -> None:
        self.codec = codec
        key = (message.topic, message.partition)
        segment = self.segments.get(key)
        if segment is None:
            segment = self.segments[key] = _Segment(message.offset)
        segment.first = min(segment.first, message.offset)
        segment.last = max(segment.last, message.offset)
        self.arrival_time = self.stream_times.get(key)
        self.message_max_time = -1
        try:
            self._message(message, codec, segment)
        finally:
            if self.message_max_time > self.stream_times.get(key, -1):
                self.stream_times[key] = self.message_max_time

    def _message(self, message: Message, codec: EventCodec, segment: _Segment) -> None:
        if not message.value:
            self._reject(message, segment, None, b"", "unknown", "empty", "<value>", "", "message has no value")
            return
        try:
            decoded = codec.decode(message.value)
        except SchemaDecodeError as exc:
            self._reject(message, segment, None, message.value, "unknown", exc.reason, "<payload>", "", str(exc))
            return
        if decoded.name == "EventBatch":
            index = 0
            by_type = self.stats.by_type
            # Older (sealed) ids are looked up once for the whole batch.
            self.sealed = self.dedup.sealed_sightings(
                [e["event_id"] for field_name in BATCH_FIELD.values() for e in decoded.datum[field_name]]
            )
            for event_type, field_name in BATCH_FIELD.items():
                events = decoded.datum[field_name]
                if events:
                    by_type[event_type] = by_type.get(event_type, 0) + len(events)
                if event_type == "DataCreated":
                    self._data_created_batch(message, segment, events, index)
                    index += len(events)
                    continue
                for datum in events:
                    self._event(message, segment, index, event_type, datum, batched=True)
                    index += 1
        else:
            self.sealed = None
            self.stats.by_type[decoded.name] = self.stats.by_type.get(decoded.name, 0) + 1
            self._event(message, segment, 0, decoded.name, decoded.datum, batched=False)

    def _reject(
        self,
        message: Message,
        segment: _Segment,
        index: int | None,
        payload: bytes,
        event_type: str,
        error: str,
        field_name: str,
        value: str,
        reason: str,
    ) -> None:
        segment.rejected += 1
        self.stats.rejected += 1
        self.dead_letters.append(
            DeadLetter(
                message.topic, message.partition, message.offset, index, payload, event_type, error, field_name, value, reason
            )
        )
        key = (event_type, f"{error}: {field_name}")
        self.rejections[key] = self.rejections.get(key, 0) + 1

    def _event(self, message: Message, segment: _Segment, index: int, event_type: str, e: dict[str, Any], batched: bool) -> None:
        try:
            check(event_type, e, self.latest_ms)
        except EventRejected as exc:
            assert self.codec is not None
            payload = self.codec.encode(event_type, e) if batched else (message.value or b"")
            self._reject(
                message,
                segment,
                index if batched else None,
                payload,
                event_type,
                "invalid_field",
                exc.field,
                exc.value,
                exc.reason,
            )
            return
        event_id = e["event_id"]
        partition, offset = message.partition, message.offset
        if not self.dedup.first_sighting(event_id, partition, offset, index, self.now_s, self.sealed):
            segment.duplicates += 1
            self.stats.duplicates += 1
            return
        self.seen_topic.append(message.topic)
        self.seen_partition.append(partition)
        self.seen_id.append(event_id)
        self.seen_offset.append(offset)
        self.seen_index.append(index)
        segment.events += 1
        stats = self.stats
        stats.events += 1
        event_time = e["event_time"]
        day = event_time // _MS_PER_DAY
        # Lateness is measured against the stream time before this message: events
        # that arrive together (one batch) are simultaneous, whatever their order inside.
        late = 1 if self.arrival_time is not None and self.arrival_time - event_time > self.lateness_ms else 0
        if event_time > self.message_max_time:
            self.message_max_time = event_time
        stats.late += late
        if event_type == "DataCreated":
            volume_key = (day, e["source"], e["region"], late)
            cell = self.volume.get(volume_key)
            if cell is None:
                cell = self.volume[volume_key] = [0, 0, 0]
            cell[0] += 1
            cell[1] += e["bytes"]
            cell[2] += e["records"]
            stats.bytes += e["bytes"]
            for parent in e["parent_dataset_ids"]:
                self._edge(parent, e["dataset_id"], day, e["bytes"])
        elif event_type == "TokenUsage":
            token_key = (day, e["model"], e["provider"], e["region"], late)
            cell = self.tokens.get(token_key)
            if cell is None:
                cell = self.tokens[token_key] = [0, 0, 0]
            cell[0] += 1
            cell[1] += e["input_tokens"]
            cell[2] += e["output_tokens"]
        elif event_type == "DatasetRegistered":
            self.datasets.append(
                _row(
                    Kind.DATASET,
                    topic=message.topic,
                    kafka_partition=message.partition,
                    offset_from=message.offset,
                    offset_to=message.offset,
                    day=day,
                    event_time_ms=e["event_time"],
                    region=e["region"],
                    dataset_id=e["dataset_id"],
                    owner=e["owner"],
                    quality_grade=e["quality_grade"],
                    registration_id=e["registration_id"] or "",
                    adjustment=late,
                    events=1,
                    bytes=e["bytes"],
                )
            )
            for parent in e["parent_dataset_ids"]:
                self._edge(parent, e["dataset_id"], day, 0)
        else:  # CollectionRun
            collection_key = (day, e["pipeline_id"], e["region"], late)
            cell = self.collection.get(collection_key)
            if cell is None:
                cell = self.collection[collection_key] = [0, 0, 0, 0, 0]
            cell[0] += 1
            cell[1] += e["attempted_captures"]
            cell[2] += e["usable_captures"]
            cell[3] += e["attempted_bytes"]
            cell[4] += e["usable_bytes"]

    def _data_created_batch(self, message: Message, segment: _Segment, events: list[dict[str, Any]], first_index: int) -> None:
        """The hot path: DataCreated events of one batch, with ``_event``'s work inlined.

        Any event that is not plainly valid takes ``_event``, which gives the exact
        rejection; a test checks that both paths count the same.
        """
        partition, offset, topic = message.partition, message.offset, message.topic
        now_s, latest, lateness = self.now_s, self.latest_ms, self.lateness_ms
        arrival = self.arrival_time
        # The window's recent ids, used directly: this loop is the hot path. Older
        # (sealed) ids are looked up once for the whole batch.
        seen = self.dedup.recent
        sealed = self.sealed
        volume, lineage = self.volume, self.lineage
        ids, indexes = self.seen_id, self.seen_index
        valid_regions, uuid_match, earliest = VALID_REGIONS, UUID_PATTERN.match, EARLIEST_EVENT_MS
        counted = late_total = bytes_total = duplicates = 0
        max_time = self.message_max_time
        index = first_index - 1
        for e in events:
            index += 1
            event_id = e["event_id"].lower()
            t = e["event_time"]
            region = e["region"]
            b = e["bytes"]
            r = e["records"]
            dataset_id = e["dataset_id"]
            organization = e["organization"]
            parents = e["parent_dataset_ids"]
            if (
                t < earliest
                or t > latest
                or b < 0
                or r < 0
                or region not in valid_regions
                or not dataset_id
                or len(dataset_id) > 256
                or not organization
                or len(organization) > 256
                or not e["producer_id"]
                or dataset_id in parents
                or not uuid_match(event_id)
                or (parents and ("" in parents or max(map(len, parents)) > 256))
            ):
                self.stats.events += counted
                segment.events += counted
                counted = 0
                self._event(message, segment, index, "DataCreated", e, batched=True)
                continue
            previous = seen.get(event_id)
            if previous is None and sealed:
                previous = sealed.get(event_id)
            if previous is None:
                seen[event_id] = (partition, offset, index, now_s)
            elif previous[0] != partition or previous[1] != offset or previous[2] != index:
                self.dedup.hits += 1
                duplicates += 1
                continue
            ids.append(event_id)
            indexes.append(index)
            counted += 1
            day = t // _MS_PER_DAY
            late = 1 if arrival is not None and arrival - t > lateness else 0
            late_total += late
            if t > max_time:
                max_time = t
            key = (day, e["source"], region, late)
            cell = volume.get(key)
            if cell is None:
                volume[key] = [1, b, r]
            else:
                cell[0] += 1
                cell[1] += b
                cell[2] += r
            bytes_total += b
            for parent in parents:
                edge = lineage.get((parent, dataset_id))
                if edge is None:
                    lineage[(parent, dataset_id)] = [1, b, day]
                else:
                    edge[0] += 1
                    edge[1] += b
                    if day < edge[2]:
                        edge[2] = day
        added = len(ids) - len(self.seen_topic)
        self.seen_topic.extend([topic] * added)
        self.seen_partition.extend([partition] * added)
        self.seen_offset.extend([offset] * added)
        self.message_max_time = max_time
        stats = self.stats
        stats.events += counted
        stats.late += late_total
        stats.bytes += bytes_total
        stats.duplicates += duplicates
        segment.events += counted
        segment.duplicates += duplicates

    def _edge(self, parent: str, child: str, day: int, derived_bytes: int) -> None:
        cell = self.lineage.get((parent, child))
        if cell is None:
            self.lineage[(parent, child)] = [1, derived_bytes, day]
        else:
            cell[0] += 1
            cell[1] += derived_bytes
            cell[2] = min(cell[2], day)

    def plan(self) -> FlushPlan:
        rows: list[tuple[object, ...]] = []
        for (day, source, region, late), (n, b, r) in self.volume.items():
            rows.append(_row(Kind.VOLUME, day=day, source=source, region=region, adjustment=late, events=n, bytes=b, records=r))
        for (day, model, provider, region, late), (n, i, o) in self.tokens.items():
            rows.append(
                _row(
                    Kind.TOKENS,
                    day=day,
                    model=model,
                    provider=provider,
                    region=region,
                    adjustment=late,
                    events=n,
                    input_tokens=i,
                    output_tokens=o,
                )
            )
        for (day, pipeline, region, late), (n, ac, uc, ab, ub) in self.collection.items():
            rows.append(
                _row(
                    Kind.COLLECTION,
                    day=day,
                    pipeline_id=pipeline,
                    region=region,
                    adjustment=late,
                    events=n,
                    attempted_captures=ac,
                    usable_captures=uc,
                    attempted_bytes=ab,
                    usable_bytes=ub,
                )
            )
        for (parent, child), (n, b, day) in self.lineage.items():
            rows.append(_row(Kind.LINEAGE, day=day, parent_id=parent, dataset_id=child, events=n, bytes=b))
        for (event_type, reason), n in self.rejections.items():
            rows.append(_row(Kind.REJECTED, source=event_type, reason=reason, events=n))
        rows.extend(self.datasets)
        marks: dict[tuple[str, int], int] = {}
        for (topic, partition), s in sorted(self.segments.items()):
            rows.append(
                _row(
                    Kind.SEGMENT,
                    topic=topic,
                    kafka_partition=partition,
                    offset_from=s.first,
                    offset_to=s.last,
                    event_time_ms=self.stream_times.get((topic, partition), 0),
                    events=s.events,
                    duplicates=s.duplicates,
                    rejected=s.rejected,
                )
            )
            marks[(topic, partition)] = s.last
        token = hashlib.sha256(
            ";".join(f"{t}:{p}:{s.first}-{s.last}" for (t, p), s in sorted(self.segments.items())).encode()
        ).hexdigest()[:32]
        starts = {tp: s.first for tp, s in self.segments.items()}
        seen: list[list[Any]] = []
        if self.seen_id:
            seen = [
                self.seen_topic,
                self.seen_partition,
                self.seen_id,
                self.seen_offset,
                self.seen_index,
                [self.now_s] * len(self.seen_id),
            ]
        return FlushPlan(Flush(token, rows, seen, starts), self.dead_letters, self.stats, marks)
