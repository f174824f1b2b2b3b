"""What planning a flush produces: the flush to write, its dead letters and figures, and what it changes once written."""

from __future__ import annotations

from dataclasses import dataclass, field

from zettaledger.schemas.validation import LIMITS, Limits
from zettaledger.sinks.ledger import Flush
from zettaledger.streams.dead_letters import DeadLetter
from zettaledger.streams.dedup import Place

__all__ = ["Caps", "FlushPlan", "TallyStats"]


@dataclass(frozen=True, slots=True)
class Caps:
    """What one message may make the worker do (the ``ZL_MAX_*`` settings); beyond, dead letters with their own codes."""

    max_message_bytes: int = 8 * 1024 * 1024  # a value, after decompression: value_too_large
    max_batch_events: int = 10_000  # events in one EventBatch: too_many_events
    max_dead_letters_per_message: int = 100  # the rest of a message's rejections: one too_many_dead_letters letter
    limits: Limits = LIMITS  # per event: max_id (id_too_long), max_parents (too_many_parents)


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
    """A flush to write, and the state it moves once written (``Accountant.committed`` applies it)."""

    flush: Flush
    dead_letters: list[DeadLetter]
    stats: TallyStats
    watermarks: dict[tuple[str, int], int]  # highest offset per topic-partition once this flush is written
    stream_times: dict[tuple[str, int], int] = field(default_factory=dict)  # latest event time per partition after it
    sightings: dict[str, Place] = field(default_factory=dict)  # ids first counted here (lower-case) and where
    now_s: int = 0  # the worker's clock when planned: the ids' seen_at, and when the dedup window expires
    # Ids the window cannot vouch for (events at or before the time it last forgot ids of their
    # partition): look them up in seen_events and plan again with what was found (``known``).
    lookups: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.flush.rows
