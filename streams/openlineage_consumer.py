"""The OpenLineage feed inside the worker: an aiokafka consumer run as a service of the Faust app.

It is part of the ingest worker, not a process of its own: Faust starts it with the
app (after the producer the dead letters go through) and stops it before the app's
producer, on the same signals and with the same graceful path; it shares the worker's
ledger connection, Accountant and Flusher (``Ingest``), its health page, stall watchdog
and ``--until-caught-up``. Its consumer group is ``<ZL_APP_ID>-openlineage`` (Faust's
own group cannot hold a second kind of member: the assignment protocols differ).
What it guarantees, and why it exists, is in ``openlineage_feed.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.errors import KafkaConnectionError
from mode import Service

from zettaledger.kafka_security import KafkaSecurity
from zettaledger.settings import Settings
from zettaledger.sinks.client import SinkError
from zettaledger.streams.ingest import Ingest, TopicDeadLetters, dead_letter_sink
from zettaledger.streams.openlineage_feed import OpenLineageFeed
from zettaledger.streams.take import TakeLimit

__all__ = ["OpenLineageService", "register_openlineage"]

log = logging.getLogger(__name__)

# Well below what one fetch may return (ZL_TAKE_MAX_BYTES, 8 MB a partition), or every fetch would wait out its time.
_FETCH_MIN_BYTES = 1024 * 1024
_FLUSHES_A_TAKE = 8
_MAX_BACKOFF_S = 10.0


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """aiokafka wants an instance of its own class; the feed does the work."""

    def __init__(self, feed: OpenLineageFeed) -> None:
        self._feed = feed

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._feed.on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._feed.on_partitions_assigned(assigned)


class OpenLineageService(Service):
    """Opens the ingest state, runs the feed until the app stops, then leaves the group."""

    def __init__(self, app: faust.App, settings: Settings, ingest: Ingest, dead_letters: TopicDeadLetters) -> None:
        super().__init__()
        self._app = app
        self._settings = settings
        self._ingest = ingest
        self._dead_letters = dead_letters
        self.feed: OpenLineageFeed | None = None
        self.consumer: Any = None  # AIOKafkaConsumer, once started
        self._main: asyncio.Future[None] | None = None

    def assignment(self) -> set[tuple[str, int]]:
        """The OpenLineage partitions this worker holds now (for the stall watchdog)."""
        if self.consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self.consumer.assignment()}

    def highwaters(self) -> dict[tuple[str, int], int | None]:
        """The end of each OpenLineage partition this worker holds, as last fetched (for the lag gauge)."""
        if self.consumer is None:
            return {}
        return {(tp.topic, tp.partition): self.consumer.highwater(tp) for tp in self.consumer.assignment()}

    async def on_start(self) -> None:
        # Faust starts its extra services once the first rebalance is over, even when a SIGTERM
        # came meanwhile and the app is already stopping its children. A feed started then would
        # join the group during shutdown with nobody left to stop it. Checked here because the app
        # lists this service among its children before starting it, and sets its stop flag before
        # it stops them: either the flag is seen here, or the app's stop reaches this service.
        if self._app.should_stop:
            log.info("the worker is stopping: the OpenLineage feed is not started")
            return
        # In a task of its own: opening the ledger retries while ClickHouse is away, and must not hold up the app.
        self._main = self.add_future(self._run())

    async def on_stop(self) -> None:
        if self._main is None:
            return
        if self.feed is None:
            self._main.cancel()  # still opening the ledger or joining: nothing is in hand
        else:
            self.feed.stop()
        await asyncio.wait([self._main])  # the take in hand is flushed and committed first

    async def _run(self) -> None:
        s, ingest = self._settings, self._ingest
        try:
            await ingest.open(self._dead_letters)
            consumer = await self._started_consumer()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            ingest.fatal(exc)
            return
        self.consumer = consumer
        try:
            feed = OpenLineageFeed(
                consumer,
                s.topic_openlineage,
                ingest.flush,
                self._ledger_watermarks,
                self._catch_up,
                # Several flushes a take (the flusher cuts it at ZL_BATCH_MAX_MESSAGES), so the next
                # slice is planned while the last one is written; ZL_TAKE_MAX_BYTES bounds its memory.
                TakeLimit(_FLUSHES_A_TAKE * s.batch_max_messages, s.take_max_bytes),
                stats=ingest.stats,
                after_commit=lambda: ingest.failpoints.hit("after_commit"),
            )
            self.feed = feed
            consumer.subscribe([s.topic_openlineage], listener=_Listener(feed))
            await feed.run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            ingest.fatal(exc)  # before anything more is committed; a restart resumes from the ledger
        finally:
            await consumer.stop()

    async def _started_consumer(self) -> Any:
        """An AIOKafkaConsumer connected to the broker; retried while the broker is unreachable, as Faust's own is."""
        s, conf = self._settings, self._app.conf
        backoff = 0.5
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=s.kafka_servers,
                client_id=s.openlineage_group,
                group_id=s.openlineage_group,  # the worker needs READ on it (scripts/kafka/acls.py)
                group_instance_id=f"{s.group_instance_id}-openlineage" if s.group_instance_id else None,
                enable_auto_commit=False,  # committed after each durable take only
                auto_offset_reset="earliest",
                session_timeout_ms=int(s.session_timeout_s * 1000),
                heartbeat_interval_ms=int(s.session_timeout_s * 1000 / 3),
                max_poll_interval_ms=int(conf.broker_max_poll_interval * 1000),
                max_partition_fetch_bytes=conf.consumer_max_fetch_size,
                # Takes are batched by the broker (see OpenLineageFeed.step): a fetch is answered once
                # this much has arrived, or after ZL_BATCH_WITHIN_S, so a trickle is flushed about that
                # often and a backlog at once.
                fetch_min_bytes=_FETCH_MIN_BYTES,
                fetch_max_wait_ms=int(s.batch_within_s * 1000),
                **KafkaSecurity.from_settings(s).aiokafka_options(),
            )
            try:
                await consumer.start()
                return consumer
            except asyncio.CancelledError:
                await consumer.stop()  # stopped while connecting: leave no coordinator task behind
                raise
            except KafkaConnectionError as exc:
                await consumer.stop()
                log.warning("the OpenLineage consumer cannot reach Kafka (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _ledger_watermarks(self) -> dict[int, int]:
        """The ledger's watermarks of the OpenLineage topic; this worker's own if the ledger cannot answer now."""
        ingest, topic = self._ingest, self._settings.topic_openlineage
        assert ingest.store is not None and ingest.accountant is not None
        try:
            return cast(dict[int, int], await ingest.blocking(ingest.store.watermarks, topic))
        except SinkError as exc:
            # Still exact: offsets the ledger holds are refused as a conflict and adopted when written again.
            log.warning("could not read the ledger's OpenLineage watermarks (%s); resuming from this worker's own", exc)
            return {p: o for (t, p), o in ingest.accountant.watermarks.items() if t == topic}

    def _catch_up(self, watermarks: dict[tuple[str, int], int]) -> None:
        accountant = self._ingest.accountant
        assert accountant is not None
        accountant.catch_up(watermarks)


def register_openlineage(app: faust.App, settings: Settings, ingest: Ingest) -> OpenLineageService:
    """Start the OpenLineage feed with ``app`` (Faust's extra services start once the app, its producer included, runs)."""
    service = OpenLineageService(app, settings, ingest, dead_letter_sink(app, settings))
    app.service(cast(Any, service))  # Faust starts an instance as it is, or instantiates a class
    return service
