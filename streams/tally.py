"""One plan's counting: each message decoded, each event checked, resends dropped, the rest added into cells.

Nothing here changes state outside the tally: what the plan starts from (offsets
written, stream times, ids already counted) is read through ``Prior``, and what it
would change is returned in the ``FlushPlan`` for ``Accountant.committed``.

Lateness: stream time is the latest event time seen per partition. An event more
than ``lateness_ms`` behind the stream time *before its message* still counts in its
own day, flagged as an adjustment; events of one message (a batch) are simultaneous.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from zettaledger.schemas.codec import EventCodec, SchemaDecodeError
from zettaledger.schemas.models import BATCH_FIELD, derivation_of
from zettaledger.schemas.openlineage import OpenLineageDecoder, OpenLineageRejected
from zettaledger.schemas.validation import EventRejected, check, data_created_is_plain
from zettaledger.sinks.ledger import Flush, Kind
from zettaledger.sinks.rows import flush_token, row
from zettaledger.streams.cells import Cells, Segment
from zettaledger.streams.dead_letters import DeadLetter, Rejections
from zettaledger.streams.dedup import Place
from zettaledger.streams.message import Message
from zettaledger.streams.openlineage_runs import Located, fold
from zettaledger.streams.plan import Caps, FlushPlan, TallyStats

__all__ = ["OpenLineageRoute", "Prior", "Tally"]


@dataclass(frozen=True)
class OpenLineageRoute:
    """Messages of ``topic`` are OpenLineage JSON: decoded by ``decoder`` and folded into run rows
    (``streams.openlineage_runs``) instead of being read as Avro."""

    topic: str
    decoder: OpenLineageDecoder


_MS_PER_DAY = 86_400_000
# derivation_of, by "has no parents": its two answers, looked up in the hot loop rather than called
_DERIVATION_WITHOUT_PARENTS = (derivation_of(("parent",)), derivation_of(()))


class Prior(Protocol):
    """What a plan starts from: the committed state, seen through any plan it follows."""

    def stream_time(self, key: tuple[str, int]) -> int | None: ...

    def floor(self, key: tuple[str, int]) -> int:
        """Events of ``key`` at or before this time are not all held in memory: look them up (-1: none)."""
        ...

    @property
    def known(self) -> dict[str, Place] | None:
        """What seen_events said of the ids an earlier plan asked about; None when nothing was looked up."""
        ...

    def sightings(self, ids: Sequence[str]) -> dict[str, Place]:
        """Where the (lower-case) ids were first counted, for those counted before this plan."""
        ...


class Tally:
    """The counting of one flush; ``message`` for each message not yet in the ledger, then ``plan``."""

    def __init__(
        self,
        codec: EventCodec,
        prior: Prior,
        now_s: int,
        latest_ms: int,
        lateness_ms: int,
        openlineage: OpenLineageRoute | None = None,
        caps: Caps | None = None,
    ) -> None:
        self.codec = codec
        self.openlineage = openlineage
        self.lineage_events: list[Located] = []  # OpenLineage observations of this plan, folded in ``plan``
        self.caps = caps = caps or Caps()
        self.limits = caps.limits
        self.message_rejections = 0  # of the current message: past the cap, counted without a letter each
        self.prior = prior
        self.now_s = now_s
        self.latest_ms = latest_ms
        self.lateness_ms = lateness_ms
        self.stats = TallyStats()
        self.cells = Cells()
        self.rejections = Rejections()
        self.sightings: dict[str, Place] = {}  # ids first counted in this plan, and where
        self.stream_times: dict[tuple[str, int], int] = {}  # per partition touched, as this plan leaves it
        self.arrival_time: int | None = None  # the stream time before the current message
        self.message_max_time = -1
        # Ids to look up in seen_events, per partition (only while nothing was looked up yet).
        self.lookups: dict[tuple[str, int], list[str]] = {}
        self.asking = prior.known is None
        self.floor = -1  # of the current message's partition
        # seen_events as columns (topic, partition, event_id, offset, batch_index, seen_at):
        # inserted column-oriented, which is faster than rows for the busiest table.
        self.seen_topic: list[str] = []
        self.seen_partition: list[int] = []
        self.seen_id: list[str] = []
        self.seen_offset: list[int] = []
        self.seen_index: list[int] = []

    def message(self, message: Message) -> None:
        key = (message.topic, message.partition)
        segment = self.cells.segment(key, message.offset)
        if self.openlineage is not None and message.topic == self.openlineage.topic:
            self._openlineage(message, segment, self.openlineage.decoder)
            return
        stream_times = self.stream_times
        if key not in stream_times:
            before = self.prior.stream_time(key)
            if before is not None:
                stream_times[key] = before
        self.arrival_time = stream_times.get(key)
        self.message_max_time = -1
        self.floor = self.prior.floor(key)
        self.message_rejections = 0
        self._message(message, segment)
        if self.message_rejections > self.caps.max_dead_letters_per_message:
            self._summarise(message)
        if self.message_max_time > stream_times.get(key, -1):
            stream_times[key] = self.message_max_time

    def _message(self, message: Message, segment: Segment) -> None:
        if not message.value:
            self._reject(segment, DeadLetter.unreadable(message, "empty", "<value>", "message has no value"))
            return
        caps = self.caps
        if len(message.value) > caps.max_message_bytes:  # decompressed by the consumer: the cap applies to what it made
            reason = f"value of {len(message.value)} bytes; at most {caps.max_message_bytes} (ZL_MAX_MESSAGE_BYTES)"
            self._reject(segment, DeadLetter.unreadable(message, "value_too_large", "<value>", reason))
            return
        try:
            decoded = self.codec.decode(message.value)
        except SchemaDecodeError as exc:
            self._reject(segment, DeadLetter.unreadable(message, exc.reason, "<payload>", str(exc)))
            return
        by_type = self.stats.by_type
        datum = decoded.datum
        if decoded.name == "EventBatch":
            groups = [(event_type, datum[field_name]) for event_type, field_name in BATCH_FIELD.items()]
            size = sum(len(events) for _, events in groups)
            if size > caps.max_batch_events:  # before any event is looked at
                reason = f"{size} events in one batch; at most {caps.max_batch_events} (ZL_MAX_BATCH_EVENTS)"
                self._reject(segment, DeadLetter.unreadable(message, "too_many_events", "<batch>", reason))
                return
            ids = [e["event_id"].lower() for _, events in groups for e in events]
            found = self._found(ids)  # one lookup for the whole batch
            index = 0
            for event_type, events in groups:
                if not events:
                    continue
                by_type[event_type] = by_type.get(event_type, 0) + len(events)
                if event_type == "DataCreated":
                    self._data_created(message, segment, events, index, ids, found, batched=True)
                    index += len(events)
                    continue
                for e in events:
                    self._event(message, segment, index, event_type, e, ids[index], found)
                    index += 1
            return
        by_type[decoded.name] = by_type.get(decoded.name, 0) + 1
        if decoded.name == "DataCreated":
            ids = [datum["event_id"].lower()]
            self._data_created(message, segment, [datum], 0, ids, self._found(ids), batched=False)
        else:
            self._event(message, segment, None, decoded.name, datum, None, None)

    def _openlineage(self, message: Message, segment: Segment, decoder: OpenLineageDecoder) -> None:
        """One OpenLineage event: no event id and no stream time; a run is made idempotent by the
        ledger's resolution rule (``sinks.lineage``), so resends are kept, not dropped here."""
        try:
            observation = decoder.decode(message.value, self.latest_ms)
        except OpenLineageRejected as exc:
            letter = DeadLetter(
                message.topic, message.partition, message.offset, None, message.value or b"",
                exc.kind, exc.code, exc.field, exc.value, exc.reason,
            )  # fmt: skip
            self._reject(segment, letter)
            return
        kind = type(observation).__name__.removesuffix("Observation") + "Event"
        self.stats.by_type[kind] = self.stats.by_type.get(kind, 0) + 1
        self.lineage_events.append(Located(observation, message.topic, message.partition, message.offset))
        segment.events += 1
        self.stats.events += 1

    def _found(self, ids: Sequence[str]) -> dict[str, Place]:
        """Where ``ids`` were counted before this plan, stamped with this plan's clock.

        Stamped so that "seen at the same place" is tuple equality with a place of this
        plan: an event seen before at its own place is a replay and counts; anywhere else,
        a resend.
        """
        found = self.prior.sightings(ids)
        now_s = self.now_s
        return {key: (p, o, i, now_s) for key, (p, o, i, _) in found.items()} if found else found

    def _first_here(self, event_id: str, place: Place, found: dict[str, Place]) -> bool:
        """Count the event? Yes if it was not counted before, or only at this very place (a replay).

        Counted elsewhere (before this plan, per ``found``, or earlier in it) makes it a
        resend. A new id is taken into this plan's sightings at ``place``.
        """
        previous = found.get(event_id) if found else None
        if previous is None:
            previous = self.sightings.setdefault(event_id, place)
        return previous == place

    def ask(self, key: tuple[str, int], event_id: str) -> None:
        """Note an id the window cannot vouch for: the plan is made again once seen_events was asked."""
        self.lookups.setdefault(key, []).append(event_id)

    def _reject(self, segment: Segment, letter: DeadLetter) -> None:
        segment.rejected += 1
        self.stats.rejected += 1
        self.message_rejections += 1
        self.rejections.add(letter, send=self.message_rejections <= self.caps.max_dead_letters_per_message)

    def _reject_event(
        self, message: Message, segment: Segment, index: int | None, e: dict[str, Any], rejected: EventRejected
    ) -> None:
        """A bad event: alone in its message, the message is sent on; in a batch, the event alone, re-encoded
        (unless the message is past its cap of letters: then it is only counted)."""
        past_cap = self.message_rejections >= self.caps.max_dead_letters_per_message
        payload = (message.value or b"") if index is None else b"" if past_cap else self.codec.encode(rejected.kind, e)
        self._reject(segment, DeadLetter.invalid(message, index, payload, rejected))

    def _summarise(self, message: Message) -> None:
        """One letter for the rejections of a message past ``max_dead_letters_per_message`` (each already counted)."""
        cap = self.caps.max_dead_letters_per_message
        more = self.message_rejections - cap
        reason = (
            f"{more} more events of this message were rejected and counted, without a letter each: "
            f"the first {cap} have their own (ZL_MAX_DEAD_LETTERS_PER_MESSAGE); this letter carries the message"
        )
        self.rejections.add_summary(
            DeadLetter.unreadable(message, "too_many_dead_letters", "<message>", reason).with_value(str(more))
        )

    def _data_created(
        self,
        message: Message,
        segment: Segment,
        events: list[dict[str, Any]],
        first_index: int,
        ids: Sequence[str],
        found: dict[str, Place],
        batched: bool,
    ) -> None:
        """DataCreated events of one message (most events): the hot path, so its steps are written out in one loop.

        ``ids``: the message's event ids in lower case, by index in the message;
        ``found``: what ``_found`` returned for them.
        """
        partition, offset, topic = message.partition, message.offset, message.topic
        now_s, latest, lateness, arrival = self.now_s, self.latest_ms, self.lateness_ms, self.arrival_time
        first_here = self._first_here
        floor, asking = self.floor, self.asking
        volume, lineage, outputs = self.cells.volume, self.cells.lineage, self.cells.outputs
        seen_ids, seen_indexes = self.seen_id, self.seen_index
        plain = data_created_is_plain
        without_parents = _DERIVATION_WITHOUT_PARENTS
        limits = self.limits
        counted = late_total = bytes_total = duplicates = 0
        max_time = -1
        index = first_index - 1
        for e in events:
            index += 1
            if not plain(e, latest, limits):
                try:
                    check("DataCreated", e, latest, limits)  # names what is wrong, or learns a new region
                except EventRejected as exc:
                    self._reject_event(message, segment, index if batched else None, e, exc)
                    continue
            event_id = ids[index]
            t = e["event_time"]
            if t <= floor and asking and event_id not in found:
                self.ask((topic, partition), event_id)
            if not first_here(event_id, (partition, offset, index, now_s), found):
                duplicates += 1
                continue
            seen_ids.append(event_id)
            seen_indexes.append(index)
            counted += 1
            day = t // _MS_PER_DAY
            late = 1 if arrival is not None and arrival - t > lateness else 0
            late_total += late
            if t > max_time:
                max_time = t
            b = e["bytes"]
            r = e["records"]
            parents = e["parent_dataset_ids"]
            derivation = e["derivation"] or without_parents[not parents]
            source, region = e["source"], e["region"]
            key = (day, source, region, late, e["producer_id"], derivation)
            cell = volume.get(key)
            if cell is None:
                volume[key] = [1, b, r]
            else:
                cell[0] += 1
                cell[1] += b
                cell[2] += r
            dataset_id = e["dataset_id"]
            # The dataset's own bytes (lineage graph nodes, attribution seeds and roots).
            out_key = (dataset_id, day, source, region, derivation)
            cell = outputs.get(out_key)
            if cell is None:
                outputs[out_key] = [1, b, r]
            else:
                cell[0] += 1
                cell[1] += b
                cell[2] += r
            bytes_total += b
            if parents:
                # A parent named twice is one edge: its bytes count once per event.
                for parent in dict.fromkeys(parents) if len(parents) > 1 else parents:
                    edge = lineage.get((parent, dataset_id))
                    if edge is None:
                        lineage[(parent, dataset_id)] = [1, b, day]
                    else:
                        edge[0] += 1
                        edge[1] += b
                        if day < edge[2]:
                            edge[2] = day
        added = len(seen_ids) - len(self.seen_topic)
        self.seen_topic.extend([topic] * added)
        self.seen_partition.extend([partition] * added)
        self.seen_offset.extend([offset] * added)
        if max_time > self.message_max_time:
            self.message_max_time = max_time
        stats = self.stats
        stats.events += counted
        stats.late += late_total
        stats.bytes += bytes_total
        stats.duplicates += duplicates
        segment.events += counted
        segment.duplicates += duplicates

    def _event(
        self,
        message: Message,
        segment: Segment,
        index: int | None,
        event_type: str,
        e: dict[str, Any],
        event_id: str | None,
        found: dict[str, Place] | None,
    ) -> None:
        """Any event other than DataCreated; ``index`` is None for a message of one event (then ids are looked up here)."""
        try:
            check(event_type, e, self.latest_ms, self.limits)
        except EventRejected as exc:
            self._reject_event(message, segment, index, e, exc)
            return
        if event_id is None or found is None:
            event_id = e["event_id"].lower()
            found = self._found([event_id])
        partition, offset = message.partition, message.offset
        if e["event_time"] <= self.floor and self.asking and event_id not in found:
            self.ask((message.topic, partition), event_id)
        if not self._first_here(event_id, (partition, offset, index or 0, self.now_s), found):
            segment.duplicates += 1
            self.stats.duplicates += 1
            return
        self.seen_topic.append(message.topic)
        self.seen_partition.append(partition)
        self.seen_id.append(event_id)
        self.seen_offset.append(offset)
        self.seen_index.append(index or 0)
        segment.events += 1
        stats = self.stats
        stats.events += 1
        event_time = e["event_time"]
        day = event_time // _MS_PER_DAY
        late = 1 if self.arrival_time is not None and self.arrival_time - event_time > self.lateness_ms else 0
        if event_time > self.message_max_time:
            self.message_max_time = event_time
        stats.late += late
        cells = self.cells
        if event_type == "TokenUsage":
            cells.add_tokens(e, day, late)
        elif event_type == "DatasetRegistered":
            cells.add_dataset(message.topic, partition, offset, e, day, late)
        else:  # CollectionRun
            cells.add_collection(e, day, late)

    def plan(self) -> FlushPlan:
        if self.lineage_events:
            self.cells.extra = [row(Kind(str(r.pop("kind"))), **r) for r in fold(self.lineage_events)]
        segments = sorted(self.cells.segments.items())
        rows = self.cells.rows(self.rejections.counts, self.stream_times)
        token = flush_token((topic, partition, s.first, s.last) for (topic, partition), s in segments)
        starts = {tp: s.first for tp, s in segments}
        marks = {tp: s.last for tp, s in segments}
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
        return FlushPlan(
            Flush(token, rows, seen, starts),
            self.rejections.letters,
            self.stats,
            marks,
            dict(self.stream_times),
            self.sightings,
            self.now_s,
            self.lookups,
        )
