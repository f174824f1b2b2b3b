"""The ingest agent: takes messages of the events topic from Kafka and hands them to the ``Flusher``.

A take is acked only once its flush is durable, so Kafka never commits an offset
ClickHouse does not hold. The agent body returns as soon as a take is planned and
its write has started (``Flusher.submit``), so the next take is counted while it
is written; the messages are held by one reference each, so ``take_events``' own
ack does not reach the consumer, and are acked by the flush when it lands. On
restart the ledger's watermarks decide what is new, so a crash between the write
and the commit double-counts nothing. Everything else (slicing, planning, dead
letters, retries, conflicts) is in ``flush.py``, which knows nothing of Faust. The OpenLineage topic is taken by
``openlineage_consumer.py`` in batches and flushed by the same ``Flusher``
(``Ingest.submit`` plans one take at a time, whoever hands it over).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import faust
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from zettaledger.failpoints import Failpoints
from zettaledger.settings import Settings
from zettaledger.sinks.client import SinkError
from zettaledger.sinks.store import LedgerStore, open_store
from zettaledger.streams.accountant import Accountant, DeadLetter, Message
from zettaledger.streams.flush import Blocking, DeadLetterError, Flusher
from zettaledger.streams.run_stats import RunStats
from zettaledger.streams.shielded import until_done
from zettaledger.streams.startup import open_accountant
from zettaledger.streams.take import TakeLimit

__all__ = ["Ingest", "TopicDeadLetters", "dead_letter_sink", "register_ingest"]

log = logging.getLogger(__name__)
_EX_SOFTWARE = 70
_MAX_BACKOFF_S = 10.0


class TopicDeadLetters:
    """The dead-letter topic as a ``DeadLetterSink``: every send awaited and its result checked.

    Values are cut to ``max_value_bytes`` (``DeadLetter.wire``). A refusal that retrying
    can cure (the broker away, a timeout) fails the whole send as retryable; one that it
    cannot (a record too large for the broker or the topic) names the letters refused,
    so the flusher can shrink them, or record them in the ledger.
    """

    def __init__(self, app: faust.App, topic: faust.TopicT, max_value_bytes: int = 1024 * 1024) -> None:
        self._app = app
        self._topic = topic
        self._max_value_bytes = max_value_bytes

    def _error(self, exc: BaseException, refused: Sequence[DeadLetter] = ()) -> DeadLetterError:
        name = self._topic.get_topic_name()
        return DeadLetterError(f"dead-letter topic {name!r} refused a send: {exc}", _retryable(exc), refused)

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        pending: list[tuple[DeadLetter, Any]] = []
        refused: list[DeadLetter] = []
        last: BaseException | None = None
        for dl in letters:
            value, headers = dl.wire(self._max_value_bytes)
            try:
                pending.append((dl, await self._topic.send(key=dl.event_type.encode()[:256], value=value, headers=headers)))
            except _SEND_ERRORS as exc:  # refused before it left: too large for the producer, or the broker away
                if _retryable(exc):
                    raise self._error(exc) from exc
                refused.append(dl)
                last = exc
        try:
            await self._app.producer.flush()
        except _SEND_ERRORS as exc:
            raise self._error(exc) from exc
        # each resolves to the broker's acknowledgement, or to its refusal
        results = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
        for (dl, _), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, _SEND_ERRORS) or _retryable(result):
                    raise self._error(result) from result
                refused.append(dl)
                last = result
        if refused:
            assert last is not None
            raise self._error(last, refused) from last


_SEND_ERRORS = (TimeoutError, KafkaError, OSError)


def _retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retriable", False)) or isinstance(
        exc, (KafkaTimeoutError, KafkaConnectionError, OSError, asyncio.TimeoutError)
    )


class Ingest:
    """The worker's ingest state: the ledger connection, the Accountant and the Flusher, once opened."""

    def __init__(self, settings: Settings, failpoints: Failpoints | None = None, store: LedgerStore | None = None) -> None:
        self.settings = settings
        self.failpoints = failpoints or Failpoints.parse(settings.failpoints)
        self._store = store  # opened from the settings when the agent starts, unless given
        self.blocking = Blocking()
        self.ready = asyncio.Event()
        self.stats = RunStats()
        self.flusher: Flusher | None = None
        self._started = time.monotonic()
        self._opening = asyncio.Lock()  # the agent and the OpenLineage feed both open, once
        self._flushing = asyncio.Lock()  # one take at a time, the agent's or the feed's: plans see each other's effects

    @property
    def accountant(self) -> Accountant | None:
        return self.flusher.accountant if self.flusher else None

    @property
    def store(self) -> LedgerStore | None:
        """The ledger store, once opened (the live query endpoint reads through it)."""
        return self.flusher.store if self.flusher else None

    @property
    def waiting(self) -> bool:
        """Waiting on ClickHouse or the dead-letter topic: backpressure, not a stall."""
        return bool(self.flusher and self.flusher.waiting)

    @property
    def last_progress(self) -> float:
        return self.flusher.last_progress if self.flusher else self._started

    def fatal(self, exc: BaseException) -> None:
        """Stop at once, before Faust can ack the take: the ledger owns the offsets, so a restart resumes exactly."""
        log.critical("ingest cannot continue: %s; exiting without committing offsets", exc, exc_info=exc)
        logging.shutdown()
        os._exit(_EX_SOFTWARE)

    def ack_when_durable(self, consumer: Any, held: Sequence[Any], durable: asyncio.Future[object]) -> None:
        """A take's flush is done: ack its messages if it is durable; stop without acking if it failed.

        Called by the flush itself, not by the agent, so a take is acked as soon as it is durable
        even while the agent waits for the next take (a rebalance waits for acks to drain).
        """
        if durable.cancelled():
            return  # shutting down mid-write: unacked, so replayed, and the ledger's watermarks skip what landed
        exc = durable.exception()
        if exc is not None:
            self.fatal(exc)
        for message in held:
            message.ack(consumer)

    async def open(self, dead_letters: TopicDeadLetters) -> Flusher:
        """Open the ledger and resume from it; retries while ClickHouse is unreachable."""
        async with self._opening:
            return await self._open(dead_letters)

    async def submit(self, messages: Sequence[Message], sizes: Sequence[int]) -> asyncio.Future[object]:
        """Plan a take and start its write (``Flusher.submit``), after any other take being planned.

        The agent and the OpenLineage feed both hand takes over; one is planned at a time, and
        the Flusher writes them in the order they were submitted.
        """
        assert self.flusher is not None, "open() first"
        async with self._flushing:
            return await self.flusher.submit(messages, sizes)

    async def flush(self, messages: Sequence[Message], sizes: Sequence[int]) -> None:
        """Make a take durable: submitted, then waited for."""
        await (await self.submit(messages, sizes))

    async def _open(self, dead_letters: TopicDeadLetters) -> Flusher:
        if self.flusher is None:
            s = self.settings
            store = self._store or open_store(
                s.clickhouse_dsn,
                s.clickhouse_database,
                self.failpoints,
                token_file=s.ledger_host_token_path,
                ca_file=s.clickhouse_ca_file,
                timeout_s=s.clickhouse_timeout_s,
            )
            offset_ms = self.failpoints.clock_offset_ms()
            backoff = 0.5
            while True:
                try:
                    accountant = await self.blocking(open_accountant, store, s, offset_ms)
                    break
                except SinkError as exc:
                    if not exc.retryable:
                        raise
                    log.warning("%s; retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
            self.flusher = Flusher(
                accountant,
                store,
                dead_letters,
                flush_max_bytes=s.flush_max_bytes,
                flush_max_messages=s.batch_max_messages,
                blocking=self.blocking,
                stats=self.stats,
            )
            self.ready.set()
        return self.flusher


def dead_letter_sink(app: faust.App, settings: Settings) -> TopicDeadLetters:
    """The dead-letter topic of ``settings`` as the flusher's sink."""
    topic = app.topic(settings.topic_dead_letter, key_serializer="raw", value_serializer="raw")
    return TopicDeadLetters(app, topic, settings.dead_letter_max_bytes)


def register_ingest(app: faust.App, settings: Settings, ingest_state: Ingest) -> Any:
    # The events topic only: the OpenLineage topic, one event per message, is taken in batches
    # by the OpenLineage feed (openlineage_consumer.py), which Faust's per-message stream would cap.
    events_topic = app.topic(
        settings.topic_events,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    dead_letters = dead_letter_sink(app, settings)
    faults = ingest_state.failpoints

    @app.agent(events_topic, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        flusher = await ingest_state.open(dead_letters)
        take = TakeLimit(settings.batch_max_messages, settings.take_max_bytes)
        stream.add_processor(ingest_state.stats.arrived)  # before take_events' own: when each message came
        batches = stream.take_events(take, settings.batch_within_s)  # type: ignore[attr-defined]
        try:
            async for batch in batches:
                await _take(batch, take)
        finally:
            await asyncio.shield(flusher.drain())  # the last take's acks before Faust's final commit

    async def _take(batch: Sequence[Any], take: TakeLimit) -> None:
        stats = ingest_state.stats
        stats.take_cut(writing=ingest_state.flusher is not None and ingest_state.flusher.writing_now)
        if faults.armed("after_commit"):
            assert ingest_state.flusher is not None
            await ingest_state.flusher.drain()
            await app.consumer.commit()  # the previous flush's offsets, acked once it was durable
            faults.hit("after_commit")
        messages = [Message(e.message.topic, e.message.partition, e.message.offset, e.message.value) for e in batch]
        sizes = [len(m.value or b"") for m in messages]
        take.observe(sizes)
        # take_events acks the batch when this body returns, and it returns once the take is
        # planned and being written, so that the next take is counted meanwhile. Each message
        # is held (one more reference) so that this ack does not reach the consumer: it is
        # acked when its flush is durable (``Ingest.ack_when_durable``). Planning is shielded
        # from shutdown's cancellation, and any failure stops the process.
        held = [e.message for e in batch]
        for message in held:
            message.incref()
        task = asyncio.ensure_future(ingest_state.submit(messages, sizes))
        try:
            await until_done(task)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            ingest_state.fatal(exc)
        finally:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().add_done_callback(functools.partial(ingest_state.ack_when_durable, app.consumer, held))
        stats.sample_latency(int(time.time() * 1000), [int(e.message.timestamp * 1000) for e in batch[:1000]])

    return ingest
