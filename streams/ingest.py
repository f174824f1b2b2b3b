"""The ingest agent: decode, check, deduplicate, aggregate, dead-letter, write to ClickHouse.

The body stays thin: ``Accountant`` (plain Python) does the arithmetic and
``LedgerWriter`` the SQL. ``take_events`` acks a batch only after this body has
returned for it, i.e. after its flush was written, so Kafka never commits an
offset ClickHouse does not hold. On restart the ledger's watermarks decide what
is new, so a crash between the write and the commit double-counts nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import faust

from zettaledger import failpoints
from zettaledger.schemas.codec import EventCodec
from zettaledger.settings import Settings
from zettaledger.sinks.client import SinkError
from zettaledger.sinks.store import LedgerStore, open_store
from zettaledger.sinks.writer import LedgerConflict
from zettaledger.streams.accountant import Accountant, FlushPlan, Message
from zettaledger.streams.dedup import DedupWindow, Sighting
from zettaledger.streams.take import TakeLimit
from zettaledger.telemetry import current_rss_mb, instruments, tracer

__all__ = ["Ledger", "RunStats", "register_ingest"]

log = logging.getLogger(__name__)
_EX_SOFTWARE = 70
_MAX_BACKOFF_S = 10.0


@dataclass
class RunStats:
    """What this worker process did; printed as one JSON line when it stops (the fault suite reads it)."""

    flushes: int = 0
    events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0
    replayed_messages: int = 0
    write_retries: int = 0
    conflicts: int = 0  # flushes re-planned because another worker had written their offsets
    first_batch_at: float = 0.0  # monotonic seconds: busy time is last_flush_at - first_batch_at
    last_flush_at: float = 0.0
    latencies_ms: list[int] = field(default_factory=list, repr=False)  # produced (Kafka timestamp) -> written
    # (events counted so far, RSS in MB) after each flush, thinned to stay small:
    # shows whether memory grows with the stream or levels off.
    rss_samples: list[tuple[int, float]] = field(default_factory=list, repr=False)

    def sample_rss(self) -> None:
        self.rss_samples.append((self.events, round(current_rss_mb(), 1)))
        if len(self.rss_samples) >= 2_000:
            del self.rss_samples[::2]

    def summary(self) -> dict[str, Any]:
        hidden = ("latencies_ms", "first_batch_at", "last_flush_at", "rss_samples")
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in hidden}
        out["busy_seconds"] = round(max(self.last_flush_at - self.first_batch_at, 0.0), 3)
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            out["latency_p50_ms"] = ordered[len(ordered) // 2]
            out["latency_p99_ms"] = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
        if self.rss_samples and self.events:
            # RSS after a tenth, a quarter, half, three quarters and all of the events: level when memory is flat.
            out["rss_mb_along_stream"] = {
                f"{share:.0%}": next(rss for n, rss in self.rss_samples if n >= share * self.events)
                for share in (0.1, 0.25, 0.5, 0.75, 1.0)
            }
        return out

    ambiguous_writes_found_stored: int = 0


class Ledger:
    """The worker's side of ClickHouse: one connection, used from one thread (chDB is not async)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zl-clickhouse")
        self.writer: LedgerStore | None = None
        self.accountant: Accountant | None = None
        self.ready = asyncio.Event()
        self.stats = RunStats()
        self.last_progress = time.monotonic()  # the last flush written, or the start
        self.writing = False  # a write is under way or being retried: waiting on ClickHouse, not stalled

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open_blocking(self) -> Accountant:
        s = self.settings
        writer = open_store(s.clickhouse_dsn, s.clickhouse_database)
        writer.setup(s.clickhouse_cluster or None, s.dedup_horizon_hours)
        marks = writer.watermarks(s.topic_events)
        stream_times = writer.stream_times(s.topic_events)
        offset_ms = failpoints.active().clock_offset_ms()
        dedup = DedupWindow(s.dedup_horizon_hours * 3600, s.dedup_max_ids)
        since = int(time.time() + offset_ms / 1000) - s.dedup_horizon_hours * 3600
        dedup.load(
            (e.event_id, Sighting(e.kafka_partition, e.offset, e.batch_index, e.seen_at))
            for e in writer.seen_since(s.topic_events, since)
        )
        log.info("ledger open: watermarks %s, %d event ids in the dedup window", marks, len(dedup))
        self.writer = writer
        return Accountant(
            EventCodec(),
            dedup,
            {(s.topic_events, p): o for p, o in marks.items()},
            clock_ms=lambda: int(time.time() * 1000) + offset_ms,
            stream_times={(s.topic_events, p): t for p, t in stream_times.items()},
            lateness_ms=s.lateness_hours * 3_600_000,
        )

    async def open(self) -> Accountant:
        if self.accountant is None:
            backoff = 0.5
            while True:
                try:
                    self.accountant = await self._run(self._open_blocking)
                    break
                except SinkError as exc:
                    if not exc.retryable:
                        raise
                    log.warning("%s; retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
            self.ready.set()
        return self.accountant

    async def stored_already(self, plan: FlushPlan) -> bool:
        assert self.writer is not None
        try:
            return bool(await self._run(self.writer.holds, plan.watermarks))
        except SinkError:
            return False  # still unreachable: retry the write later

    async def write(self, plan: FlushPlan) -> None:
        """Persist ``plan``; retries retryable failures with backoff, never gives up on them."""
        metrics = instruments()
        self.writing = True
        try:
            await self._write_with_retries(plan, metrics)
        finally:
            self.writing = False
            self.last_progress = time.monotonic()

    async def _write_with_retries(self, plan: FlushPlan, metrics: Any) -> None:
        assert self.writer is not None
        backoff = 0.2
        while True:
            started = time.perf_counter()
            try:
                with tracer().start_as_current_span("zl.insert", attributes={"zl.rows": len(plan.flush.rows)}):
                    await self._run(self.writer.write, plan.flush)
                metrics.flush_seconds.record(time.perf_counter() - started)
                return
            except SinkError as exc:
                if isinstance(exc, LedgerConflict) or not exc.retryable:
                    raise
                metrics.flush_retries.add(1)
                self.stats.write_retries += 1
                if await self.stored_already(plan):
                    # The insert succeeded but its acknowledgement was lost; writing again
                    # would be deduplicated by the token anyway, but we need not send it.
                    self.stats.ambiguous_writes_found_stored += 1
                    log.warning("flush %s was stored despite %s", plan.flush.token, exc)
                    return
                log.warning("%s; retrying flush %s in %.1fs", exc, plan.flush.token, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)


def register_ingest(app: faust.App, settings: Settings, ledger: Ledger) -> Any:
    events_topic = app.topic(
        settings.topic_events, key_serializer="raw", value_serializer="raw", partitions=settings.topic_partitions
    )
    dead_letter_topic = app.topic(settings.topic_dead_letter, key_serializer="raw", value_serializer="raw")
    metrics = instruments()

    def account_slice(batch: list[Any], accountant: Accountant) -> tuple[list[Message], FlushPlan]:
        messages = [Message(e.message.topic, e.message.partition, e.message.offset, e.message.value) for e in batch]
        with tracer().start_as_current_span("zl.account", attributes={"zl.messages": len(batch)}):
            return messages, accountant.account(messages)

    async def send_dead_letters(plan: FlushPlan) -> None:
        if plan.dead_letters:
            # Dead letters are durable in Kafka before the ledger says their offsets are done.
            with tracer().start_as_current_span("zl.dead_letter", attributes={"zl.events": len(plan.dead_letters)}):
                for dl in plan.dead_letters:
                    await dead_letter_topic.send(key=dl.event_type.encode(), value=dl.payload, headers=dl.headers())
                await app.producer.flush()

    async def persist(batch: list[Any], messages: list[Message], plan: FlushPlan, accountant: Accountant) -> None:
        with tracer().start_as_current_span("zl.flush", attributes={"zl.messages": len(batch)}):
            await send_dead_letters(plan)
            while not plan.empty:
                try:
                    await ledger.write(plan)
                    accountant.committed(plan)
                    break
                except LedgerConflict as conflict:
                    if await ledger.stored_already(plan):  # our own earlier attempt, or another worker's, holds it all
                        accountant.committed(plan)
                        break
                    # Another worker wrote some of these offsets (we lost the partition for a
                    # while): count only what the ledger does not hold yet.
                    ledger.stats.conflicts += 1
                    log.warning("%s; counting only the offsets after them", conflict)
                    accountant.catch_up(conflict.watermarks)
                    plan = accountant.account(messages)
                    await send_dead_letters(plan)
        ledger.last_progress = time.monotonic()
        stats = plan.stats
        run = ledger.stats
        run.last_flush_at = time.monotonic()
        written_ms = int(time.time() * 1000)
        if len(run.latencies_ms) < 100_000:  # a sample is enough for percentiles; memory stays flat
            run.latencies_ms.extend(written_ms - int(e.message.timestamp * 1000) for e in batch[:1000] if e.message.timestamp)
        run.flushes += 1
        run.events += stats.events
        run.duplicates += stats.duplicates
        run.dead_letters += stats.rejected
        run.late += stats.late
        run.replayed_messages += stats.replayed_messages
        metrics.events.add(stats.events)
        metrics.bytes.add(stats.bytes)
        metrics.duplicates.add(stats.duplicates)
        metrics.dead_letters.add(stats.rejected)
        metrics.flushes.add(1)
        run.sample_rss()

    def slices(batch: list[Any], sizes: list[int]) -> Iterator[list[Any]]:
        # A take of 2,000 batch messages can hold millions of events: flush it in
        # slices of at most ZL_FLUSH_MAX_BYTES of payload so memory stays bounded.
        chunk: list[Any] = []
        size = 0
        for event, event_size in zip(batch, sizes, strict=True):
            chunk.append(event)
            size += event_size
            if size >= settings.flush_max_bytes:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    async def flush_in_slices(batch: list[Any], sizes: list[int], accountant: Accountant) -> None:
        # Pipelined: the next slice is counted (Python, this thread) while the previous
        # one is written (chDB or the network, which release the GIL). Writes stay in
        # offset order, one at a time, and the take is acked only after the last.
        writing: asyncio.Future[None] | None = None
        try:
            for chunk in slices(batch, sizes):
                messages, chunk_plan = account_slice(chunk, accountant)
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(persist(chunk, messages, chunk_plan, accountant))
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                await asyncio.wait([writing])

    @app.agent(events_topic, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        accountant = await ledger.open()
        take = TakeLimit(settings.batch_max_messages, settings.take_max_bytes)
        batches = stream.take_events(take, settings.batch_within_s)  # type: ignore[attr-defined]
        faults = failpoints.active()
        async for batch in batches:
            if not ledger.stats.first_batch_at:
                ledger.stats.first_batch_at = time.monotonic()
            if "after_commit" in faults.spec:
                await app.consumer.commit()  # the previous flush's offsets, acked when this batch was taken
                faults.hit("after_commit")
            # take_events acks the batch when this body returns or raises, so the
            # flush must finish first: shielded from shutdown's cancellation, and
            # any failure stops the process before an ack can happen.
            sizes = [len(e.message.value or b"") for e in batch]
            take.observe(sizes)
            task = asyncio.ensure_future(flush_in_slices(list(batch), sizes, accountant))
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                await task
                raise
            except BaseException as exc:
                log.critical("ingest cannot continue: %s; exiting without committing offsets", exc, exc_info=True)
                logging.shutdown()
                os._exit(_EX_SOFTWARE)

    return ingest
