"""Turns a batch of Kafka messages into one flush: the arithmetic of the pipeline, without Faust.

For each message: skip it if the ledger already holds its offset (a replay after
a restart); decode it (a single event or an ``EventBatch``); check each event;
drop resends (``DedupWindow``); add what is left into cells. Anything that cannot
be counted becomes a ``DeadLetter`` with the field, value and reason. The result
is a ``FlushPlan`` that the sink writes in one insert.

Plan, then apply: ``account`` changes nothing, so planning the same messages again
(after a conflict) gives the same plan; ``committed`` applies a plan once its flush
is written. A plan can be made ``after`` one still being written, as if it were.

The resend horizon holds at any rate with bounded memory: the dedup window holds
every id counted with an event time after its partition's *floor*, and events at
or before the floor (late events, resends, anything before the worker started) are
looked up in ``seen_events``: a plan lists them in ``lookups`` and the caller plans
again with what ClickHouse knows of them (``known``). The floor starts at the
stream time the ledger holds (a new worker remembers nothing) and rises to the
stream time of every flush the window forgets ids of.

    tally.py          one plan's counting (checks, resends, lateness, the hot loop)
    cells.py          the sums it adds into; sinks/rows.py turns them into ledger rows
    dead_letters.py   what was not counted, and why
    dedup.py          the window of ids already counted
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from zettaledger.schemas.codec import EventCodec
from zettaledger.schemas.validation import max_future_ms
from zettaledger.streams.dead_letters import DeadLetter
from zettaledger.streams.dedup import DedupWindow, Place
from zettaledger.streams.message import Message
from zettaledger.streams.plan import Caps, FlushPlan, TallyStats
from zettaledger.streams.tally import OpenLineageRoute, Tally

__all__ = ["Accountant", "Caps", "DeadLetter", "FlushPlan", "Message", "OpenLineageRoute", "TallyStats"]


class Accountant:
    """Stateful across batches only in what it must be: offsets and stream times written, and the dedup window."""

    def __init__(
        self,
        codec: EventCodec,
        dedup: DedupWindow,
        watermarks: dict[tuple[str, int], int] | None = None,
        clock_ms: Callable[[], int] | None = None,
        stream_times: dict[tuple[str, int], int] | None = None,
        lateness_ms: int = 48 * 3_600_000,
        floors: dict[tuple[str, int], int] | None = None,
        openlineage: OpenLineageRoute | None = None,
        caps: Caps | None = None,
    ) -> None:
        self._openlineage = openlineage  # the OpenLineage topic and its decoder, when one is consumed
        self._codec = codec
        self._dedup = dedup
        self._watermarks: dict[tuple[str, int], int] = dict(watermarks or {})
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        # Stream time: the latest event time counted per partition (see tally.py on lateness).
        self._stream_times: dict[tuple[str, int], int] = dict(stream_times or {})
        self._lateness_ms = lateness_ms
        # Per partition, the latest event time the window does not vouch for (see the module docstring).
        self._floors: dict[tuple[str, int], int] = dict(floors or {})
        self._caps = caps or Caps()

    @property
    def dedup(self) -> DedupWindow:
        return self._dedup

    @property
    def watermarks(self) -> dict[tuple[str, int], int]:
        """Highest offset in the ledger per topic-partition (a copy)."""
        return dict(self._watermarks)

    @property
    def stream_times(self) -> dict[tuple[str, int], int]:
        """Latest event time (ms) committed per topic-partition (a copy): lateness is measured against it."""
        return dict(self._stream_times)

    def written_through(self, topic: str, partition: int) -> int:
        """Highest offset already in the ledger, or -1."""
        return self._watermarks.get((topic, partition), -1)

    @property
    def floors(self) -> dict[tuple[str, int], int]:
        """Per partition, the latest event time whose ids are looked up in ClickHouse rather than memory (a copy)."""
        return dict(self._floors)

    def catch_up(self, watermarks: dict[tuple[str, int], int], stream_times: dict[tuple[str, int], int] | None = None) -> None:
        """Adopt what another writer put in the ledger (after a rebalance): its offsets are skipped,
        and events up to its stream time are looked up in ClickHouse (this window never saw them)."""
        _advance(self._watermarks, watermarks)
        if stream_times:
            _advance(self._stream_times, stream_times)
            _advance(self._floors, stream_times)

    def account(
        self, messages: Sequence[Message], after: FlushPlan | None = None, known: dict[str, Place] | None = None
    ) -> FlushPlan:
        """Plans a flush and changes nothing in the accountant or the dedup window.

        ``after``: a plan being written and not committed yet (the previous slice of a
        pipelined take); this plan sees its effects as if it were committed: offsets at
        or below its watermarks are replays, its stream times hold, and an id it counted
        at another place is a resend here.

        ``known``: where ``seen_events`` says the ids of an earlier plan's ``lookups`` were
        first counted (None: not looked up yet, so the plan lists them in ``lookups``).
        """
        now_ms = self._clock_ms()
        prior = _Prior(self._watermarks, self._stream_times, self._dedup, after, self._floors, known)
        tally = Tally(self._codec, prior, now_ms // 1000, max_future_ms(now_ms), self._lateness_ms, self._openlineage, self._caps)
        stats = tally.stats
        for message in messages:
            stats.messages += 1
            if message.offset <= prior.written_through((message.topic, message.partition)):
                stats.replayed_messages += 1
                continue
            tally.message(message)
        return tally.plan()

    def committed(self, plan: FlushPlan) -> None:
        """The plan's flush is durably written: apply its offsets, stream times and ids counted."""
        _advance(self._watermarks, plan.watermarks)
        _advance(self._stream_times, plan.stream_times)
        self._dedup.record(plan.sightings, plan.stream_times)
        _advance(self._floors, self._dedup.expire(plan.now_s))


def _advance(marks: dict[tuple[str, int], int], newer: dict[tuple[str, int], int]) -> None:
    for tp, value in newer.items():
        if value > marks.get(tp, -1):
            marks[tp] = value


class _Prior:
    """The accountant's committed state, with the effects of ``after`` (a plan not committed yet) on top."""

    __slots__ = ("_after", "_dedup", "_floors", "_stream_times", "_watermarks", "known")

    def __init__(
        self,
        watermarks: dict[tuple[str, int], int],
        stream_times: dict[tuple[str, int], int],
        dedup: DedupWindow,
        after: FlushPlan | None,
        floors: dict[tuple[str, int], int],
        known: dict[str, Place] | None,
    ) -> None:
        self._watermarks = watermarks
        self._stream_times = stream_times
        self._dedup = dedup
        self._after = after
        self._floors = floors
        self.known = known  # what seen_events said of the ids looked up; None: not looked up

    def written_through(self, key: tuple[str, int]) -> int:
        mark = self._watermarks.get(key, -1)
        if self._after is not None:
            mark = max(mark, self._after.watermarks.get(key, -1))
        return mark

    def stream_time(self, key: tuple[str, int]) -> int | None:
        t = self._stream_times.get(key)
        if self._after is not None:
            later = self._after.stream_times.get(key)
            if later is not None and (t is None or later > t):
                t = later
        return t

    def floor(self, key: tuple[str, int]) -> int:
        """Events of ``key`` at or before this time must be looked up (-1: the window holds them all)."""
        return self._floors.get(key, -1)

    def sightings(self, ids: Sequence[str]) -> dict[str, Place]:
        found = self._dedup.find(ids)
        if self._after is not None and self._after.sightings:
            pending = self._after.sightings
            for key in pending.keys() & ids:
                found.setdefault(key, pending[key])
        if self.known:
            for key in self.known.keys() & ids:
                found.setdefault(key, self.known[key])
        return found
