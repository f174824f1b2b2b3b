"""The Flusher without Faust or ClickHouse: slice order, retries, ambiguous writes, conflicts, dead letters.

The store and the dead-letter sink are in-memory fakes; the Accountant is the real one.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from tests.unit.samples import SAMPLES
from zettaledger.schemas import EventCodec
from zettaledger.sinks.client import SinkError, SinkUnavailable
from zettaledger.sinks.ledger import COLUMN_NAMES, Flush
from zettaledger.sinks.writer import LedgerConflict
from zettaledger.streams.accountant import Accountant, DeadLetter, Message
from zettaledger.streams.dedup import DedupWindow
from zettaledger.streams.flush import DeadLetterError, Flusher, slices

CODEC = EventCodec()
NOW_MS = 1_795_000_000_000
TOPIC = "zl.events"


class MemoryLedger:
    """A ledger store that keeps flushes in a list and refuses overlapping offsets, as the real one does."""

    single_writer = False  # as a shared server: flushes are cut per partition

    def __init__(self) -> None:
        self.flushes: list[Flush] = []
        self.failures: list[SinkError] = []  # raised by the next writes, before anything is stored
        self.lose_acks = 0  # the next writes are stored, then fail as a timeout would
        self.log: list[str] = []

    def held(self) -> dict[tuple[str, int], int]:
        marks: dict[tuple[str, int], int] = {}
        for flush in self.flushes:
            for row in flush.rows:
                r: dict[str, Any] = dict(zip(COLUMN_NAMES, row, strict=True))
                if r["kind"] == "segment":
                    tp = (str(r["topic"]), int(r["kafka_partition"]))
                    marks[tp] = max(marks.get(tp, -1), int(r["offset_to"]))
        return marks

    def write(self, flush: Flush) -> None:
        self.log.append(f"write {sorted(flush.starts.values())}")
        if self.failures:
            raise self.failures.pop(0)
        held = self.held()
        if any(held.get(tp, -1) >= start for tp, start in flush.starts.items()):
            raise LedgerConflict(held)
        self.flushes.append(flush)
        if self.lose_acks:
            self.lose_acks -= 1
            raise SinkUnavailable("timed out waiting for the acknowledgement", retryable=True)

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        held = self.held()
        return all(held.get(tp, -1) >= offset for tp, offset in marks.items())

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None: ...
    def watermarks(self, topic: str) -> dict[int, int]:
        return {p: o for (t, p), o in self.held().items() if t == topic}

    def stream_times(self, topic: str) -> dict[int, int]:
        times: dict[int, int] = {}
        for flush in self.flushes:
            for row in flush.rows:
                r: dict[str, Any] = dict(zip(COLUMN_NAMES, row, strict=True))
                if r["kind"] == "segment" and r["topic"] == topic:
                    times[int(r["kafka_partition"])] = max(times.get(int(r["kafka_partition"]), -1), int(r["event_time_ms"]))
        return times

    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]:
        self.log.append(f"lookup {sum(map(len, ids.values()))}")
        found: dict[str, tuple[int, int, int, int]] = {}
        for flush in self.flushes:
            if flush.seen:
                topics, partitions, event_ids, offsets, indexes, seen_at = flush.seen
                for t, p, e, o, i, s in zip(topics, partitions, event_ids, offsets, indexes, seen_at, strict=True):
                    if t == topic and e in ids.get(p, ()) and s >= since_s:
                        found.setdefault(e, (p, o, i, s))
        return found

    def counted(self, column: str = "bytes") -> int:
        rows: list[dict[str, Any]] = [
            dict(zip(COLUMN_NAMES, row, strict=True)) for flush in self.flushes for row in flush.rows if row[0] == "volume"
        ]
        return sum(int(r[column]) for r in rows)


class MemoryDeadLetters:
    def __init__(self, ledger: MemoryLedger) -> None:
        self.sent: list[DeadLetter] = []
        self.failures: list[DeadLetterError] = []
        self.ledger = ledger

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        self.ledger.log.append(f"dead letters {len(letters)}")
        if self.failures:
            raise self.failures.pop(0)
        self.sent.extend(letters)


async def _now(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)  # the fakes do not block: no thread needed


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def flusher(
    ledger: MemoryLedger,
    dead: MemoryDeadLetters | None = None,
    flush_max_bytes: int = 1 << 20,
    window: DedupWindow | None = None,
    restarted: bool = False,
) -> Flusher:
    """A flusher on ``ledger``; ``restarted``: its accountant resumes from the ledger as ``startup`` does."""
    stream_times = {(TOPIC, p): t for p, t in ledger.stream_times(TOPIC).items()} if restarted else {}
    accountant = Accountant(
        CODEC,
        window if window is not None else DedupWindow(86_400, 1_000_000),
        {(TOPIC, p): o for p, o in ledger.watermarks(TOPIC).items()} if restarted else None,
        clock_ms=lambda: NOW_MS,
        stream_times=stream_times,
        floors=stream_times,
    )
    blocking: Callable[..., Awaitable[object]] = _now
    return Flusher(
        accountant,
        ledger,
        dead or MemoryDeadLetters(ledger),
        flush_max_bytes=flush_max_bytes,
        blocking=blocking,
        sleep=_no_sleep,
    )


def created(bytes_: int, event_id: str | None = None, **changes: Any) -> bytes:
    datum = {**SAMPLES["DataCreated"], "event_id": event_id or str(uuid.uuid4()), "bytes": bytes_, **changes}
    return CODEC.encode("DataCreated", datum)


def take(values: Sequence[bytes], first_offset: int = 0, partition: int = 0) -> tuple[list[Message], list[int]]:
    messages = [Message(TOPIC, partition, first_offset + i, v) for i, v in enumerate(values)]
    return messages, [len(v) for v in values]


def run(coro: Awaitable[None]) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_slices_hold_at_most_the_byte_limit_and_keep_offset_order() -> None:
    messages, sizes = take([created(1) for _ in range(10)])
    cut = list(slices(messages, sizes, max_bytes=3 * sizes[0]))
    assert [len(c) for c in cut] == [3, 3, 3, 1]
    assert [m.offset for c in cut for m in c] == list(range(10))


def test_slices_also_hold_at_most_the_message_limit_so_a_large_take_is_written_in_pipelined_parts() -> None:
    messages, sizes = take([created(1) for _ in range(10)])
    cut = list(slices(messages, sizes, max_bytes=1 << 20, per_partition=False, max_messages=4))
    assert [len(c) for c in cut] == [4, 4, 2]
    assert [m.offset for c in cut for m in c] == list(range(10))


def test_a_take_is_written_slice_by_slice_in_offset_order_and_counted_once() -> None:
    ledger = MemoryLedger()
    f = flusher(ledger, flush_max_bytes=1)  # one message a slice
    messages, sizes = take([created(b) for b in (1, 2, 3, 4)])
    run(f.flush_take(messages, sizes))
    assert ledger.log == [f"write {[o]}" for o in range(4)]
    assert ledger.counted() == 10
    assert f.accountant.written_through(TOPIC, 0) == 3
    assert f.stats.flushes == 4 and f.stats.events == 4


def test_a_resend_in_the_next_slice_is_dropped_while_the_first_is_still_being_written() -> None:
    ledger = MemoryLedger()
    f = flusher(ledger, flush_max_bytes=1)
    resent = str(uuid.uuid4())
    messages, sizes = take([created(5, resent), created(5, resent), created(7)])
    run(f.flush_take(messages, sizes))
    assert ledger.counted() == 12
    assert f.stats.duplicates == 1


def test_a_retryable_failure_is_retried_and_written_once() -> None:
    ledger = MemoryLedger()
    ledger.failures = [SinkUnavailable("ClickHouse is away", retryable=True), SinkUnavailable("still away", retryable=True)]
    f = flusher(ledger)
    run(f.flush_take(*take([created(9)])))
    assert len(ledger.flushes) == 1 and ledger.counted() == 9
    assert f.stats.write_retries == 2


def test_an_ambiguous_write_that_was_stored_is_not_sent_again() -> None:
    ledger = MemoryLedger()
    ledger.lose_acks = 1
    f = flusher(ledger)
    run(f.flush_take(*take([created(9)])))
    assert ledger.log == ["write [0]"]  # stored once, the retry found it stored
    assert f.stats.ambiguous_writes_found_stored == 1
    assert f.accountant.written_through(TOPIC, 0) == 0


def test_a_fatal_failure_propagates_and_nothing_is_committed() -> None:
    ledger = MemoryLedger()
    ledger.failures = [SinkError("syntax error", retryable=False)]
    f = flusher(ledger)
    with pytest.raises(SinkError, match="syntax error"):
        run(f.flush_take(*take([created(9)])))
    assert ledger.flushes == []
    assert f.accountant.written_through(TOPIC, 0) == -1


def test_offsets_another_worker_wrote_are_skipped_and_only_the_rest_is_counted() -> None:
    ledger = MemoryLedger()
    other = flusher(ledger)  # the worker that held the partition while this one was frozen
    run(other.flush_take(*take([created(b) for b in (1, 2, 3)])))
    zombie = flusher(ledger)  # believes the ledger holds nothing of partition 0
    run(zombie.flush_take(*take([created(b) for b in (1, 2, 3, 40, 50)])))
    assert ledger.counted() == 96  # 1 + 2 + 3 once, then 40 + 50
    assert zombie.stats.conflicts == 1
    assert zombie.stats.events == 2
    # refused; then the other worker's events are looked up (this window never saw them) and offset 3 on is planned again
    assert ledger.log[-3:] == ["write [0]", "lookup 2", "write [3]"]


def test_a_conflict_on_a_slice_re_plans_the_next_slice_too() -> None:
    ledger = MemoryLedger()
    run(flusher(ledger).flush_take(*take([created(1)])))  # another worker wrote offset 0
    values = [created(1), created(2), created(4), created(8)]
    zombie = flusher(ledger, flush_max_bytes=2 * len(values[0]))  # slices [0, 1] and [2, 3]
    zombie._blocking = _slow  # slice 1's write is still in flight when slice 2 is planned
    planned: list[tuple[list[int], bool]] = []
    account = zombie.accountant.account

    def spy(messages: Sequence[Message], after: Any = None, known: Any = None) -> Any:
        planned.append(([m.offset for m in messages], after is not None))
        return account(messages, after=after, known=known)

    zombie.accountant.account = spy  # type: ignore[method-assign]
    run(zombie.flush_take(*take(values)))
    assert ledger.counted() == 1 + 2 + 4 + 8
    assert zombie.stats.conflicts == 1
    # slice 2 was planned on slice 1's first plan, which the conflict replaced: planned again on what was committed
    assert planned[:2] == [([0, 1], False), ([2, 3], True)]
    assert ([0, 1], False) in planned[2:]  # re-planned after the conflict
    assert planned[-1] == ([2, 3], False)  # and slice 2 again, on what was committed


def test_dead_letters_are_confirmed_before_the_ledger_write_and_retried_when_the_broker_refuses() -> None:
    ledger = MemoryLedger()
    dead = MemoryDeadLetters(ledger)
    dead.failures = [DeadLetterError("broker away", retryable=True)]
    f = flusher(ledger, dead)
    run(f.flush_take(*take([created(-7), created(3)])))
    assert ledger.log == ["dead letters 1", "dead letters 1", "write [0]"]
    assert [(d.field, d.offset) for d in dead.sent] == [("bytes", 0)]
    assert f.stats.dead_letter_retries == 1 and f.stats.dead_letters == 1
    assert ledger.counted() == 3


def test_a_dead_letter_refused_as_it_is_goes_again_in_its_shortest_form_and_the_flush_proceeds() -> None:
    ledger = MemoryLedger()
    dead = MemoryDeadLetters(ledger)
    dead.failures = [DeadLetterError("message too large", retryable=False)]
    f = flusher(ledger, dead)
    run(f.flush_take(*take([created(-7), created(3)])))
    assert ledger.log == ["dead letters 1", "dead letters 1", "write [0]"]
    assert [d.shrunk for d in dead.sent] == [True]
    value, headers = dead.sent[0].wire(1 << 20)
    assert len(value) <= 256 and all(len(v) <= 128 for _, v in headers)
    assert f.stats.dead_letters_shrunk == 1 and f.stats.dead_letters_undelivered == 0
    assert ledger.counted() == 3


def test_a_dead_letter_the_broker_will_never_take_is_recorded_in_the_same_write_and_never_stops_the_worker() -> None:
    """Before: a non-retryable refusal propagated, the worker exited 70 without acking, and read the message again."""
    ledger = MemoryLedger()
    dead = MemoryDeadLetters(ledger)
    bad = created(-7)
    dead.failures = [DeadLetterError("record too large", retryable=False)] * 2  # as it is, then even shrunk
    f = flusher(ledger, dead)
    run(f.flush_take(*take([bad, created(3)])))
    assert ledger.log == ["dead letters 1", "dead letters 1", "write [0]"]
    assert dead.sent == []
    assert f.stats.dead_letters_undelivered == 1
    assert ledger.counted() == 3 and f.accountant.written_through(TOPIC, 0) == 1
    (flush,) = ledger.flushes
    recorded = [dict(zip(COLUMN_NAMES, r, strict=True)) for r in flush.rows if r[0] == "rejected" and "undelivered" in str(r)]
    assert len(recorded) == 1
    row = recorded[0]
    assert (row["topic"], row["kafka_partition"], row["offset_from"], row["rejected"], row["events"]) == (TOPIC, 0, 0, 1, 0)
    assert row["bytes"] == len(bad) and hashlib.sha256(bad).hexdigest() in str(row["reason"])


def test_only_the_refused_letters_are_shrunk_the_others_were_confirmed() -> None:
    ledger = MemoryLedger()
    dead = MemoryDeadLetters(ledger)
    f = flusher(ledger, dead)
    messages, sizes = take([created(-7), created(-8), created(3)])
    plan = f.accountant.account(messages)
    dead.failures = [DeadLetterError("too large", retryable=False, refused=plan.dead_letters[1:])]
    run(f.flush_take(messages, sizes))
    assert ledger.log == ["dead letters 2", "dead letters 1", "write [0]"]
    assert [(d.offset, d.shrunk) for d in dead.sent] == [(1, True)]


def test_a_resend_of_an_event_counted_before_a_restart_is_found_in_seen_events_and_dropped() -> None:
    ledger = MemoryLedger()
    original = str(uuid.uuid4())
    run(flusher(ledger).flush_take(*take([created(5, original), created(6)])))
    restarted = flusher(ledger, restarted=True)  # remembers no id: start-up loads none
    later = SAMPLES["DataCreated"]["event_time"] + 1
    run(restarted.flush_take(*take([created(5, original), created(7, event_time=later)], first_offset=2)))
    assert ledger.counted() == 5 + 6 + 7
    assert restarted.stats.duplicates == 1
    assert ledger.log[-2:] == ["lookup 1", "write [2]"]  # only the event at or before the stream time was looked up
    assert restarted.stats.old_event_lookups == 1


def test_an_event_older_than_what_the_window_still_holds_is_looked_up_not_counted_twice() -> None:
    ledger = MemoryLedger()
    f = flusher(ledger, flush_max_bytes=1, window=DedupWindow(86_400, max_ids=32, seal_size=4))
    t0 = SAMPLES["DataCreated"]["event_time"]
    first = str(uuid.uuid4())
    values = [created(1, first, event_time=t0)] + [created(1, event_time=t0 + i) for i in range(1, 80)]
    run(f.flush_take(*take(values)))  # the window holds 32 ids: the first ones are forgotten
    assert f.accountant.floors[(TOPIC, 0)] >= t0  # it says so: events up to there are looked up
    run(f.flush_take(*take([created(1, first, event_time=t0)], first_offset=80)))  # the first event, resent
    assert ledger.counted() == 80
    assert f.stats.duplicates == 1 and f.stats.old_event_lookups == 1


def test_a_single_writer_flushes_a_take_of_several_partitions_at_once() -> None:
    ledger = MemoryLedger()
    ledger.single_writer = True  # the worker holds its chDB directory: nobody to fence
    values = [created(b) for b in (1, 2, 3, 4)]
    messages = [Message(TOPIC, i % 2, i // 2, v) for i, v in enumerate(values)]
    run(flusher(ledger).flush_take(messages, [len(v) for v in values]))
    assert len(ledger.flushes) == 1 and ledger.counted() == 10


def test_a_shared_store_gets_one_flush_per_partition() -> None:
    ledger = MemoryLedger()
    values = [created(b) for b in (1, 2, 3, 4)]
    messages = [Message(TOPIC, i % 2, i // 2, v) for i, v in enumerate(values)]
    run(flusher(ledger).flush_take(messages, [len(v) for v in values]))
    assert [sorted(f.starts) for f in ledger.flushes] == [[(TOPIC, 0)], [(TOPIC, 1)]] and ledger.counted() == 10


async def _slow(fn: Callable[..., Any], *args: Any) -> Any:
    """A store that answers after a few turns of the event loop, as a thread would."""
    for _ in range(3):
        await asyncio.sleep(0)
    return fn(*args)


def _gated(gate: asyncio.Event, log: list[str]) -> Callable[..., Awaitable[object]]:
    """Runs store calls at once, except writes, which wait for ``gate``: a ledger slow to answer."""

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        if getattr(fn, "__name__", "") == "write":
            log.append("write waits")
            await gate.wait()
        return fn(*args)

    return call


def test_a_slice_is_being_written_while_the_next_slice_of_its_take_is_planned() -> None:
    ledger = MemoryLedger()
    values = [created(1), created(2), created(4), created(8)]
    f = flusher(ledger, flush_max_bytes=2 * len(values[0]))  # slices [0, 1] and [2, 3]
    gate = asyncio.Event()
    f._blocking = _gated(gate, ledger.log)
    account = f.accountant.account

    def spy(messages: Sequence[Message], after: Any = None, known: Any = None) -> Any:
        ledger.log.append(f"plan {[m.offset for m in messages]}")
        return account(messages, after=after, known=known)

    f.accountant.account = spy  # type: ignore[method-assign]

    async def one_take() -> None:
        submitted = asyncio.ensure_future(f.submit(*take(values)))
        await asyncio.sleep(0.01)
        # Planning holds the event loop: without a turn of it, slice 1's write would only start
        # once slice 2 was planned, and the two would run one after the other.
        assert ledger.log == ["plan [0, 1]", "write waits", "plan [2, 3]"]
        gate.set()
        await (await submitted)

    run(one_take())
    assert ledger.counted() == 1 + 2 + 4 + 8


def test_the_next_take_is_counted_while_the_previous_is_written_and_each_is_durable_in_order() -> None:
    ledger = MemoryLedger()
    f = flusher(ledger)
    gate = asyncio.Event()
    f._blocking = _gated(gate, ledger.log)
    planned: list[int] = []
    account = f.accountant.account

    def spy(messages: Sequence[Message], after: Any = None, known: Any = None) -> Any:
        planned.append(messages[0].offset)
        return account(messages, after=after, known=known)

    f.accountant.account = spy  # type: ignore[method-assign]
    resent = str(uuid.uuid4())

    async def two_takes() -> None:
        first = await f.submit(*take([created(1, resent), created(2)]))
        assert not first.done() and ledger.flushes == []  # being written: not durable, not acked
        second_submit = asyncio.ensure_future(f.submit(*take([created(4, resent), created(8)], first_offset=2)))
        await asyncio.sleep(0.01)
        assert planned == [0, 2]  # the second take was counted while the first was being written
        assert not second_submit.done()  # its write waits for the first take's
        gate.set()
        await first
        assert len(ledger.flushes) == 1
        await (await second_submit)

    run(two_takes())
    assert ledger.log == ["write waits", "write [0]", "write waits", "write [2]"]
    assert ledger.counted() == 1 + 2 + 8  # the resend in the second take was dropped, the first not yet written
    assert f.accountant.written_through(TOPIC, 0) == 3


def test_a_take_whose_write_fails_for_good_fails_its_future_and_the_next_submit() -> None:
    ledger = MemoryLedger()
    ledger.failures = [SinkError("syntax error", retryable=False)]
    f = flusher(ledger)

    async def two_takes() -> None:
        first = await f.submit(*take([created(9)]))
        with pytest.raises(SinkError, match="syntax error"):
            await first
        with pytest.raises(SinkError, match="syntax error"):
            await f.submit(*take([created(9)], first_offset=1))

    run(two_takes())
    assert ledger.flushes == []
    assert f.accountant.written_through(TOPIC, 0) == -1
