"""The OpenLineage topic taken in batches: ``getmany()`` takes instead of Faust's message-by-message stream.

Why not the ingest agent: the openlineage-python KafkaTransport sends one event per
Kafka message, and Faust hands an agent each message through two tasks and a queue
(the consumer's ``wait_first`` per message, the stream's iterator); ``take_events``
only regroups them afterwards. That machinery alone caps a one-event-per-message topic
(the README's benchmark section has the figures), below what decoding and folding the
events costs. aiokafka's ``getmany()`` hands over thousands of records in one call.

The guarantees are the agent's, kept by the same code:

- **One flusher.** A take goes to the worker's ``Flusher`` (same slices, insert tokens,
  fencing, dead letters, retries) through ``flush``, which the host serialises with the
  agent's takes.
- **Offsets are the ledger's.** When partitions are assigned, the ledger's watermarks
  are read and each partition is read from just past its watermark; what another worker
  wrote meanwhile is adopted (``catch_up``), not planned again. Only a partition the
  ledger has never seen starts where the consumer group's committed offset (or the
  earliest one) says. Kafka offsets are committed after a take is durable, never
  before; they serve lag monitoring, not recovery.
- **Revocation waits.** A take in hand when the group takes partitions away is flushed
  and committed before the rebalance goes on, so the next owner reads a ledger that
  holds it. A later write by a worker that lost its partitions (frozen past its session)
  is refused or fenced by the ledger, as for the agent.
- **Failure stops.** A flush that fails propagates: the host stops the process before
  anything is committed, and a restart resumes from the ledger.

Plain asyncio, no Faust: the consumer is anything with aiokafka's ``getmany``,
``commit``, ``seek`` and ``assignment``, so tests drive it with a fake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from zettaledger.streams.message import Message
from zettaledger.streams.run_stats import RunStats
from zettaledger.streams.shielded import until_done
from zettaledger.streams.take import TakeLimit

__all__ = ["BatchConsumer", "OpenLineageFeed", "Record"]

log = logging.getLogger(__name__)

_IDLE_POLL_MS = 1000  # an empty topic is polled this often, so a stop is seen within a second


class Record(Protocol):
    """What the feed reads of a consumed record (aiokafka's ``ConsumerRecord``)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...


class BatchConsumer(Protocol):
    """The part of aiokafka's ``AIOKafkaConsumer`` the feed uses; partitions are its ``TopicPartition``."""

    async def getmany(self, *partitions: Any, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]: ...
    async def commit(self, offsets: dict[Any, int] | None = None) -> None: ...
    def seek(self, partition: Any, offset: int) -> None: ...
    def assignment(self) -> set[Any]: ...


class OpenLineageFeed:
    """Takes the OpenLineage topic in batches, has each take flushed, then commits its offsets."""

    def __init__(
        self,
        consumer: BatchConsumer,
        topic: str,
        flush: Callable[[Sequence[Message], Sequence[int]], Awaitable[None]],
        ledger_watermarks: Callable[[], Awaitable[dict[int, int]]],
        catch_up: Callable[[dict[tuple[str, int], int]], None],
        take: TakeLimit,
        stats: RunStats | None = None,
        after_commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._flush = flush
        self._ledger_watermarks = ledger_watermarks
        self._catch_up = catch_up
        self._take = take
        self.stats = stats or RunStats()
        self._after_commit = after_commit
        self._clock = clock
        # Held from the moment a take is fetched until its offsets are committed: a revocation waits for it.
        self._in_hand = asyncio.Lock()
        self._stopping = False
        # Where the ledger says partitions resume after an assignment: committed at the next take, so
        # a partition the ledger holds whole (its take written, then the worker killed) shows no lag.
        self._resumed: dict[Any, int] = {}

    def stop(self) -> None:
        """Finish the take in hand, then return from ``run``."""
        self._stopping = True

    async def run(self) -> None:
        """Take, flush and commit until ``stop``; a flush that fails propagates (the caller must stop the process)."""
        while not self._stopping:
            await self.step()

    async def step(self) -> int:
        """One take: fetched, flushed, committed. Returns the number of messages taken (0: none came in time).

        One ``getmany`` a take, and none while a take is in hand: aiokafka's ``getmany`` waits
        for the end of a rebalance, which waits for ``on_partitions_revoked``, which waits for
        the take in hand; a second ``getmany`` there would wait forever. Takes are batched
        by the broker instead (the host sets the consumer's ``fetch_min_bytes`` and
        ``fetch_max_wait_ms``), and grow by themselves while a flush is under way.
        """
        batches = await self._consumer.getmany(timeout_ms=_IDLE_POLL_MS, max_records=int(self._take))
        records: list[Record] = [r for batch in batches.values() for r in batch]
        if self._resumed:
            resumed, self._resumed = self._resumed, {}
            await self._commit_offsets({tp: o for tp, o in resumed.items() if tp in self._consumer.assignment()})
        if not records:
            return 0  # nothing within a poll: let the caller look at its stop flag
        # No await between getmany's return and here: a revocation cannot slip in between.
        async with self._in_hand:
            messages = [Message(r.topic, r.partition, r.offset, r.value) for r in records]
            sizes = [len(m.value or b"") for m in messages]
            self._take.observe(sizes)
            if not self.stats.first_batch_at:
                self.stats.first_batch_at = self._clock()
            # Shielded: a shutdown that cancels the feed waits for the flush instead of abandoning it half-written.
            await until_done(asyncio.ensure_future(self._flush(messages, sizes)))
            self.stats.sample_latency(int(time.time() * 1000), [r.timestamp for r in records[:1000]])
            await self._commit(records)
            return len(records)

    async def _commit(self, records: Iterable[Record]) -> None:
        """Kafka's offsets of a durable take, for the partitions still assigned; a refusal is only logged."""
        last: dict[int, int] = {}
        for r in records:
            last[r.partition] = max(r.offset, last.get(r.partition, -1))
        assigned = {tp for tp in self._consumer.assignment() if tp.topic == self._topic and tp.partition in last}
        await self._commit_offsets({tp: last[tp.partition] + 1 for tp in assigned})

    async def _commit_offsets(self, offsets: dict[Any, int]) -> None:
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except Exception as exc:  # a rebalance in between, or the broker away: the ledger holds the take anyway
            log.info("could not commit OpenLineage offsets %s (%s); the ledger holds them", _shown(offsets), exc)
            return
        self._after_commit()

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        """Called by the consumer before a rebalance: the take in hand is made durable first."""
        async with self._in_hand:
            pass

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        """Called by the consumer after a rebalance: resume each partition just past the ledger's watermark."""
        mine = [tp for tp in assigned if tp.topic == self._topic]
        if not mine:
            return
        marks = await self._ledger_watermarks()
        self._catch_up({(self._topic, p): o for p, o in marks.items()})
        for tp in mine:
            if tp.partition in marks:
                self._consumer.seek(tp, marks[tp.partition] + 1)
                self._resumed[tp] = marks[tp.partition] + 1
        log.info(
            "OpenLineage partitions %s assigned; resuming past the ledger's watermarks %s",
            sorted(tp.partition for tp in mine),
            {p: marks[p] for p in sorted(marks) if any(tp.partition == p for tp in mine)},
        )


def _shown(offsets: dict[Any, int]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in sorted(offsets.items(), key=lambda kv: kv[0].partition))
