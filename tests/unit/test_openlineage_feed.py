"""The OpenLineage feed without a broker: takes, commits after durability, rebalances, restarts.

The consumer is a fake with aiokafka's ``getmany``/``commit``/``seek``/``assignment``;
where the ledger matters, the flush is the real ``Flusher`` on the in-memory ledger of
the flusher's tests, so "counted once" is the ledger's own arithmetic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from tests.unit.test_flush import TOPIC, MemoryLedger, created, flusher
from zettaledger.streams.message import Message
from zettaledger.streams.openlineage_feed import OpenLineageFeed
from zettaledger.streams.take import TakeLimit


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int = 1_795_000_000_000


def tp(partition: int) -> Any:
    return TopicPartition(TOPIC, partition)


def recs(partition: int, offsets: range, values: Sequence[bytes] | None = None) -> dict[Any, list[Rec]]:
    vals = values or [created(1) for _ in offsets]
    return {tp(partition): [Rec(TOPIC, partition, o, v) for o, v in zip(offsets, vals, strict=True)]}


@dataclass
class FakeConsumer:
    """Hands out scripted fetches; records commits and seeks in one log with the flushes."""

    fetches: list[dict[Any, list[Rec]]]
    assigned: set[Any]
    log: list[Any]
    refuse_commits: int = 0
    asked: list[int | None] = field(default_factory=list)

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        self.asked.append(max_records)
        await asyncio.sleep(0)
        return dict(self.fetches.pop(0)) if self.fetches else {}

    async def commit(self, offsets: dict[Any, int] | None = None) -> None:
        if self.refuse_commits:
            self.refuse_commits -= 1
            raise CommitFailedError("the group has already rebalanced")
        self.log.append(("commit", {t.partition: o for t, o in (offsets or {}).items()}))

    def seek(self, partition: Any, offset: int) -> None:
        self.log.append(("seek", partition.partition, offset))

    def assignment(self) -> set[Any]:
        return set(self.assigned)


def feed_with(
    consumer: FakeConsumer,
    flush: Any = None,
    marks: dict[int, int] | None = None,
    adopted: list[dict[tuple[str, int], int]] | None = None,
    take: TakeLimit | None = None,
) -> OpenLineageFeed:
    async def recorded(messages: Sequence[Message], sizes: Sequence[int]) -> None:
        consumer.log.append(("flush", [(m.partition, m.offset) for m in messages]))

    async def ledger_watermarks() -> dict[int, int]:
        return dict(marks or {})

    return OpenLineageFeed(
        consumer,
        TOPIC,
        flush or recorded,
        ledger_watermarks,
        (adopted if adopted is not None else []).append,
        take or TakeLimit(100, 1 << 20),
    )


def test_a_take_is_flushed_then_its_offsets_committed_one_past_the_last_of_each_partition() -> None:
    consumer = FakeConsumer([recs(0, range(5, 8)) | recs(1, range(0, 2))], {tp(0), tp(1)}, [])
    taken = asyncio.run(feed_with(consumer).step())
    assert taken == 5
    assert consumer.log == [("flush", [(0, 5), (0, 6), (0, 7), (1, 0), (1, 1)]), ("commit", {0: 8, 1: 2})]


def test_a_flush_that_fails_propagates_and_commits_nothing() -> None:
    consumer = FakeConsumer([recs(0, range(3))], {tp(0)}, [])

    async def failing(messages: Sequence[Message], sizes: Sequence[int]) -> None:
        raise RuntimeError("ClickHouse refused the insert")

    with pytest.raises(RuntimeError, match="refused the insert"):
        asyncio.run(feed_with(consumer, failing).step())
    assert consumer.log == []


def test_no_record_within_a_poll_flushes_and_commits_nothing() -> None:
    consumer = FakeConsumer([], {tp(0)}, [])
    assert asyncio.run(feed_with(consumer).step()) == 0
    assert consumer.log == []


def test_only_partitions_still_assigned_are_committed() -> None:
    consumer = FakeConsumer([recs(0, range(2)) | recs(1, range(4))], {tp(1)}, [])
    asyncio.run(feed_with(consumer).step())
    assert consumer.log[-1] == ("commit", {1: 4})


def test_a_refused_commit_is_not_an_error_the_ledger_holds_the_take() -> None:
    consumer = FakeConsumer([recs(0, range(2)), recs(0, range(2, 4))], {tp(0)}, [], refuse_commits=1)
    feed = feed_with(consumer)

    async def two_takes() -> None:
        await feed.step()
        await feed.step()

    asyncio.run(two_takes())
    assert consumer.log == [("flush", [(0, 0), (0, 1)]), ("flush", [(0, 2), (0, 3)]), ("commit", {0: 4})]


def test_a_take_asks_for_what_the_take_limit_allows() -> None:
    consumer = FakeConsumer([recs(0, range(3), [b"x" * 1000] * 3)], {tp(0)}, [])
    feed = feed_with(consumer, take=TakeLimit(max_messages=50, max_bytes=10_000, first_messages=20))

    async def two_takes() -> None:
        await feed.step()
        await feed.step()

    asyncio.run(two_takes())
    assert consumer.asked == [20, 10]  # then ~10,000 bytes of 1,000-byte messages


def test_an_assignment_resumes_each_partition_just_past_the_ledgers_watermark_and_adopts_them() -> None:
    consumer = FakeConsumer([], {tp(0), tp(1)}, [])
    adopted: list[dict[tuple[str, int], int]] = []
    feed = feed_with(consumer, marks={0: 41, 2: 7}, adopted=adopted)
    asyncio.run(feed.on_partitions_assigned([tp(0), tp(1)]))
    # Partition 1 is not in the ledger yet: it starts where the group's committed offset says.
    assert consumer.log == [("seek", 0, 42)]
    assert adopted == [{(TOPIC, 0): 41, (TOPIC, 2): 7}]


def test_where_the_ledger_resumes_a_partition_is_committed_at_the_next_take_even_with_nothing_new() -> None:
    """A partition whose take was written and then the worker killed before its commit has
    nothing left to read: without this, its group offset stayed behind (lag never cleared)."""
    consumer = FakeConsumer([], {tp(0), tp(1)}, [])
    feed = feed_with(consumer, marks={0: 41, 1: 9})

    async def assigned_then_polled() -> None:
        await feed.on_partitions_assigned([tp(0), tp(1)])
        consumer.assigned = {tp(0)}  # partition 1 moved on meanwhile: not ours to commit
        await feed.step()
        await feed.step()

    asyncio.run(assigned_then_polled())
    assert consumer.log == [("seek", 0, 42), ("seek", 1, 10), ("commit", {0: 42})]  # once


def test_a_revocation_waits_until_the_take_in_hand_is_flushed_and_committed() -> None:
    consumer = FakeConsumer([recs(0, range(3))], {tp(0)}, [])
    release = asyncio.Event()

    async def slow(messages: Sequence[Message], sizes: Sequence[int]) -> None:
        await release.wait()
        consumer.log.append(("flush", len(messages)))

    async def rebalance_during_a_flush() -> None:
        feed = feed_with(consumer, slow)
        step = asyncio.ensure_future(feed.step())
        await asyncio.sleep(0.01)  # the take is in hand, its flush under way
        revoked = asyncio.ensure_future(feed.on_partitions_revoked([tp(0)]))
        await asyncio.sleep(0.01)
        assert not revoked.done()
        release.set()
        await revoked
        consumer.log.append(("revoked",))
        await step

    asyncio.run(rebalance_during_a_flush())
    assert consumer.log == [("flush", 3), ("commit", {0: 3}), ("revoked",)]


def test_stop_ends_the_run_after_the_take_in_hand_is_durable() -> None:
    consumer = FakeConsumer([recs(0, range(2))], {tp(0)}, [])
    release = asyncio.Event()

    async def slow(messages: Sequence[Message], sizes: Sequence[int]) -> None:
        await release.wait()
        consumer.log.append(("flush", len(messages)))

    async def stop_during_a_flush() -> None:
        feed = feed_with(consumer, slow)
        running = asyncio.ensure_future(feed.run())
        await asyncio.sleep(0.01)
        feed.stop()
        release.set()
        await asyncio.wait_for(running, 5)

    asyncio.run(stop_during_a_flush())
    assert consumer.log == [("flush", 2), ("commit", {0: 2})]


def test_a_cancelled_feed_finishes_the_flush_it_started() -> None:
    consumer = FakeConsumer([recs(0, range(2))], {tp(0)}, [])
    release = asyncio.Event()

    async def slow(messages: Sequence[Message], sizes: Sequence[int]) -> None:
        await release.wait()
        consumer.log.append(("flush", len(messages)))

    async def cancel_during_a_flush() -> None:
        step = asyncio.ensure_future(feed_with(consumer, slow).step())
        await asyncio.sleep(0.01)
        step.cancel()
        await asyncio.sleep(0.01)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await step

    asyncio.run(cancel_during_a_flush())
    assert consumer.log == [("flush", 2)]  # durable, and not committed: the ledger holds it


def test_a_take_replayed_after_a_crash_before_its_commit_is_counted_once() -> None:
    """The worker dies between the ledger write and Kafka's commit: Kafka hands the take over again.
    The restarted feed seeks past the ledger's watermark; had it not (or had the group resent anyway),
    the accountant skips offsets the ledger holds."""
    ledger = MemoryLedger()
    values = [created(b) for b in (1, 10, 100, 1000)]

    first = FakeConsumer([recs(0, range(3), values[:3])], {tp(0)}, [])
    first.refuse_commits = 1  # the crash: nothing committed to Kafka
    before = flusher(ledger)
    asyncio.run(feed_with(first, before.flush_take).step())
    assert ledger.counted() == 111

    # Restarted: the accountant resumes from the ledger; Kafka's group offset is still at 0.
    after = flusher(ledger, restarted=True)
    again = FakeConsumer([recs(0, range(4), values)], {tp(0)}, [])
    feed = feed_with(again, after.flush_take, marks=ledger.watermarks(TOPIC), adopted=[])

    async def resume() -> None:
        await feed.on_partitions_assigned([tp(0)])
        await feed.step()  # the fake ignores the seek and resends offsets 0-3: the worst case

    asyncio.run(resume())
    assert again.log[0] == ("seek", 0, 3)
    assert ledger.counted() == 1111
    assert again.log[-1] == ("commit", {0: 4})
