"""From a take of Kafka messages to a durable flush, without Faust.

The agent hands a take over (``Flusher.submit``) and acks it when the future
that returns resolves, so everything here happens before Kafka may commit an
offset. ``submit`` returns once the take is planned and its last slice is being
written, so the agent can take the next one meanwhile:

1. **Slices.** A take is cut into slices of one topic-partition each, and of at
   most ``flush_max_bytes`` of payload, which bounds memory however large the
   take (and of at most ``flush_max_messages``, so a take of several flushes,
   as the OpenLineage feed takes, is pipelined). One partition a slice is what lets ClickHouse fence a zombie writer: a
   flush's insert token names where it starts in its partition.
2. **Old events.** A plan lists the ids the dedup window cannot vouch for (events
   at or before the time it last forgot ids of their partition); they are looked
   up in ``seen_events`` and the slice is planned again with what was found.
3. **Pipelining.** The next slice, of this take or the next, is planned (Python,
   this thread) while the previous one is written (chDB or the network, which
   release the GIL). The plan sees the unwritten slice's effects through
   ``account(after=...)``; if that slice had to be re-planned, the next one is
   planned again. Writes stay one at a time, in offset order.
4. **Persisting a slice:** dead letters first, confirmed by the broker (a letter
   the broker refuses for good is sent again in its shortest form, and if refused
   even then, recorded as a ledger row of the same write: one message can never
   stop the worker); then the ledger write, retried with backoff while the failure is retryable; then
   ``Accountant.committed``, the only place planned state is applied.
5. **Ambiguous writes.** Before a retry, the flusher asks the ledger whether it
   already holds the slice (a timeout after success); if so it is not resent.
6. **Conflicts.** If the ledger refuses a slice because another worker wrote
   some of its offsets (this one lost the partition for a while), or kept that
   worker's insert of them instead of this one (``fenced``), the flusher adopts
   the ledger's watermarks and stream times and re-plans only what is missing.

A failure that is not retryable propagates: the caller must stop without acking.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar, cast

from zettaledger.sinks.client import SinkError
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.store import LedgerStore
from zettaledger.sinks.writer import LedgerConflict
from zettaledger.streams.accountant import Accountant, DeadLetter, FlushPlan, Message
from zettaledger.streams.dedup import Place
from zettaledger.streams.run_stats import RunStats
from zettaledger.telemetry import instruments, tracer

__all__ = ["Blocking", "DeadLetterError", "DeadLetterSink", "Flusher", "slices"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeadLetterError(Exception):
    """The dead-letter topic did not confirm a send; ``retryable`` says whether trying again can help.

    Not retryable: ``refused`` names the letters the broker will never take as they are
    (every letter sent when the sink cannot tell which); the others were confirmed.
    """

    def __init__(self, message: str, retryable: bool, refused: Sequence[DeadLetter] = ()) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.refused = list(refused)


class DeadLetterSink(Protocol):
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Return once the broker has confirmed every letter; raise ``DeadLetterError`` otherwise."""
        ...


class Blocking:
    """Runs blocking store calls on one thread of their own: chDB is not async, and one connection is used serially."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zl-clickhouse")

    async def __call__(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def slices(
    messages: Sequence[Message],
    sizes: Sequence[int],
    max_bytes: int,
    per_partition: bool = True,
    max_messages: int | None = None,
) -> Iterator[list[Message]]:
    """Runs of ``messages`` holding at most about ``max_bytes`` of payload each (never empty), in offset order.

    ``max_messages``: and at most that many messages each.

    ``per_partition``: each run of one topic-partition (partitions in the order they first
    appear in the take), so the storage can fence a zombie; else runs in the take's order.
    """
    by_partition: dict[tuple[str, int], list[tuple[Message, int]]] = {}
    for message, message_size in zip(messages, sizes, strict=True):
        key = (message.topic, message.partition) if per_partition else ("", 0)
        by_partition.setdefault(key, []).append((message, message_size))
    for pairs in by_partition.values():
        chunk: list[Message] = []
        size = 0
        for message, message_size in pairs:
            chunk.append(message)
            size += message_size
            if size >= max_bytes or len(chunk) == max_messages:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk


class Flusher:
    """Owns a take from the moment Faust hands it over until it may be acked."""

    def __init__(
        self,
        accountant: Accountant,
        store: LedgerStore,
        dead_letters: DeadLetterSink,
        *,
        flush_max_bytes: int,
        flush_max_messages: int | None = None,
        blocking: Callable[..., Awaitable[object]] | None = None,
        stats: RunStats | None = None,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.accountant = accountant
        self.store = store
        self.dead_letters = dead_letters
        self.flush_max_bytes = flush_max_bytes
        self.flush_max_messages = flush_max_messages
        self._blocking = blocking or Blocking()
        self.stats = stats or RunStats()
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self.last_progress = time.monotonic()  # the last slice written, or the start
        self.waiting = False  # on ClickHouse or the dead-letter topic: backpressure, not a stall
        # The slice being written (or last written) and the plan it was written from: the next
        # slice, of this take or the next, is planned after it (``submit``).
        self._writing: asyncio.Future[FlushPlan] | None = None
        self._written_after: FlushPlan | None = None

    async def flush_take(self, messages: Sequence[Message], sizes: Sequence[int]) -> None:
        """Persist a take; returns when all of it is durable (then it may be acked), raises when it cannot be."""
        await (await self.submit(messages, sizes))

    async def submit(self, messages: Sequence[Message], sizes: Sequence[int]) -> asyncio.Future[object]:
        """Plan a take and start writing it; returns once its last slice is being written.

        The future returned resolves when the whole take is durable (then it may be acked),
        or raises when it cannot be. The caller may take and submit the next take meanwhile:
        it is planned while this one is written (``account(after=...)``), and its first slice
        is written after this take's last, so writes stay one at a time, in offset order.
        """
        try:
            per_partition = not self.store.single_writer
            for chunk in slices(messages, sizes, self.flush_max_bytes, per_partition, self.flush_max_messages):
                plan = await self._plan(chunk, after=self._written_after)
                if self._writing is not None and await self._writing is not self._written_after:
                    plan = await self._plan(chunk)  # the previous slice was re-planned: plan on what it committed
                self._written_after = plan
                self._writing = asyncio.ensure_future(self._persist(chunk, plan))
                # Planning holds the event loop, and a task starts only when the loop runs: one
                # turn of it hands this slice's write to its thread before the next slice is
                # planned, or the write would wait for that planning and run after it.
                await asyncio.sleep(0)
        except BaseException:
            await self.drain()
            raise
        if self._writing is None:  # an empty take: nothing to wait for
            done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return cast("asyncio.Future[object]", self._writing)

    @property
    def writing_now(self) -> bool:
        """A slice is being written (or waits to be): the worker is busy, whatever the stream does."""
        return self._writing is not None and not self._writing.done()

    async def drain(self) -> None:
        """Wait until the last take submitted is durable (or has failed: the failure is its caller's)."""
        if self._writing is not None and not self._writing.done():
            await asyncio.wait([self._writing])

    def _account(
        self, chunk: Sequence[Message], after: FlushPlan | None = None, known: dict[str, Place] | None = None
    ) -> FlushPlan:
        with tracer().start_as_current_span("zl.account", attributes={"zl.messages": len(chunk)}):
            return self.accountant.account(chunk, after=after, known=known)

    async def _plan(self, chunk: Sequence[Message], after: FlushPlan | None = None) -> FlushPlan:
        """Plan a slice; if it has ids the window cannot vouch for, ask seen_events and plan it again."""
        plan = self._account(chunk, after)
        if not plan.lookups:
            return plan
        since_s = plan.now_s - self.accountant.dedup.horizon_s
        known: dict[str, Place] = {}
        with tracer().start_as_current_span("zl.lookup", attributes={"zl.events": sum(map(len, plan.lookups.values()))}):
            for topic in {t for t, _ in plan.lookups}:
                ids = {p: list(wanted) for (t, p), wanted in plan.lookups.items() if t == topic}
                known.update(cast(dict[str, Place], await self._blocking(self.store.sightings, topic, ids, since_s)))
        self.stats.old_event_lookups += sum(map(len, plan.lookups.values()))
        return self._account(chunk, after, known)

    async def _persist(self, chunk: Sequence[Message], plan: FlushPlan) -> FlushPlan:
        """Write one slice; returns the plan that was committed (a re-planned one after a conflict)."""
        with tracer().start_as_current_span("zl.flush", attributes={"zl.messages": len(chunk)}):
            while True:
                undelivered = await self._send_dead_letters(plan)
                if plan.empty:
                    break
                flush = plan.flush
                if undelivered:  # recorded in the same insert as the offsets they belong to
                    flush = dataclasses.replace(flush, rows=[*flush.rows, *(dl.undelivered() for dl in undelivered)])
                try:
                    await self._write(plan, flush)
                except LedgerConflict as conflict:
                    if conflict.fenced:
                        self.stats.fenced_flushes += 1
                    if await self._stored_already(plan):  # our own earlier attempt, or another worker's, holds it all
                        break
                    self.stats.conflicts += 1
                    log.warning("%s; counting only the offsets after them", conflict)
                    times = cast(dict[int, int], await self._blocking(self.store.stream_times, chunk[0].topic))
                    self.accountant.catch_up(conflict.watermarks, {(chunk[0].topic, p): t for p, t in times.items()})
                    plan = await self._plan(chunk)
                    continue
                break
            if not plan.empty:
                self.accountant.committed(plan)
        self._record(plan)
        return plan

    async def _send_dead_letters(self, plan: FlushPlan) -> list[DeadLetter]:
        """Dead letters are durable in Kafka before the ledger says their offsets are done.

        Returns the letters the broker refused in every form (to be recorded in the ledger
        write instead). Retryable refusals are retried with backoff for as long as they last.
        """
        letters: list[DeadLetter] = plan.dead_letters
        if not letters:
            return []
        backoff = 0.2
        with tracer().start_as_current_span("zl.dead_letter", attributes={"zl.events": len(letters)}):
            while True:
                self.waiting = True
                try:
                    await self.dead_letters.send(letters)
                    return []
                except DeadLetterError as exc:
                    if not exc.retryable:
                        refused = exc.refused or letters
                        if all(dl.shrunk for dl in refused):
                            return self._undelivered(refused, exc)
                        letters = [dl if dl.shrunk else dl.shrink() for dl in refused]
                        self.stats.dead_letters_shrunk += sum(not dl.shrunk for dl in refused)
                        log.warning("%s; sending %d dead letters again in their shortest form", exc, len(letters))
                        continue
                    self.stats.dead_letter_retries += 1
                    log.warning("%s; retrying %d dead letters in %.1fs", exc, len(letters), backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                finally:
                    self.waiting = False
                    self.last_progress = time.monotonic()

    def _undelivered(self, refused: list[DeadLetter], exc: DeadLetterError) -> list[DeadLetter]:
        self.stats.dead_letters_undelivered += len(refused)
        for code, n in Counter(dl.error for dl in refused).items():
            instruments().dead_letters_undelivered.add(n, {"code": code})
        where = ", ".join(f"{dl.topic}[{dl.partition}]@{dl.offset}" for dl in refused[:5])
        log.error(
            "the dead-letter topic refused %d letters even in their shortest form (%s); recording them in the ledger "
            "(kind 'rejected', reason 'undelivered dead letter ...') at %s%s",
            len(refused),
            exc,
            where,
            " and more" if len(refused) > 5 else "",
        )
        return refused

    async def _write(self, plan: FlushPlan, flush: Flush) -> None:
        """Write ``plan``'s ``flush``; retries retryable failures with backoff and never gives up on them."""
        metrics = instruments()
        backoff = 0.2
        self.waiting = True
        try:
            while True:
                started = time.perf_counter()
                try:
                    with tracer().start_as_current_span("zl.insert", attributes={"zl.rows": len(flush.rows)}):
                        await self._blocking(self.store.write, flush)
                    metrics.flush_seconds.record(time.perf_counter() - started)
                    return
                except SinkError as exc:
                    if isinstance(exc, LedgerConflict) or not exc.retryable:
                        raise
                    metrics.flush_retries.add(1)
                    self.stats.write_retries += 1
                    if await self._stored_already(plan):
                        # The insert succeeded but its acknowledgement was lost; writing again
                        # would be deduplicated by the token anyway, but need not be sent.
                        self.stats.ambiguous_writes_found_stored += 1
                        log.warning("flush %s was stored despite %s", plan.flush.token, exc)
                        return
                    log.warning("%s; retrying flush %s in %.1fs", exc, plan.flush.token, backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
        finally:
            self.waiting = False
            self.last_progress = time.monotonic()

    async def _stored_already(self, plan: FlushPlan) -> bool:
        try:
            return bool(await self._blocking(self.store.holds, plan.watermarks))
        except SinkError:
            return False  # still unreachable: the write is retried later

    def _record(self, plan: FlushPlan) -> None:
        stats, run, metrics = plan.stats, self.stats, instruments()
        self.last_progress = run.last_flush_at = time.monotonic()
        if not run.flushes:
            run.first_flush_s = round(run.last_flush_at - run.started_at, 3)
        run.flushes += 1
        run.events += stats.events
        run.duplicates += stats.duplicates
        run.dead_letters += stats.rejected
        run.late += stats.late
        run.replayed_messages += stats.replayed_messages
        metrics.events.add(stats.events)
        metrics.bytes.add(stats.bytes)
        metrics.duplicates.add(stats.duplicates)
        for code, n in Counter(dl.error for dl in plan.dead_letters).items():
            metrics.dead_letters.add(n, {"code": code})
        metrics.flushes.add(1)
        run.sample_rss()
