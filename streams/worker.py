"""Runs the ingest worker: Faust app, agent, health page, and the optional stop-when-caught-up.

``run_worker(settings, until_caught_up=True)`` notes the topic's end offsets when
it starts and stops itself (SIGTERM, the same graceful path an operator uses)
once the ledger holds every offset up to them. The demo and tests use it; in
production the worker runs until it is told to stop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from typing import Any

import faust
from kafka import KafkaConsumer, TopicPartition

from zettaledger.kafka_security import KafkaSecurity
from zettaledger.settings import Settings
from zettaledger.sinks.client import chdb_path
from zettaledger.sinks.live import (
    MAX_REQUEST_BYTES,
    QUERY_PATH,
    authorized,
    new_token,
    publish_endpoint,
    serve_query,
    serves_live_queries,
    withdraw_endpoint,
)
from zettaledger.sinks.store import store_client
from zettaledger.streams.app import build_app
from zettaledger.streams.ingest import Ingest, register_ingest
from zettaledger.streams.openlineage_consumer import OpenLineageService, register_openlineage
from zettaledger.streams.run_stats import RunStats
from zettaledger.streams.shutdown_deadline import ShutdownDeadline
from zettaledger.telemetry import WorkerGauges, current_rss_mb, observe_worker

__all__ = ["end_offsets", "quiet_retried_errors", "run_worker", "tune_gc"]

log = logging.getLogger(__name__)


def tune_gc() -> None:
    """Collect cycles less often than CPython's default (every 700 net allocations).

    Decoding allocates a dict per event, and nearly all of them die young without
    cycles; at the default threshold the collector runs every few dozen events and
    walks the live dedup window and Faust's objects each time, a sizeable share of
    the accountant's time (the README's benchmark section has the figures). Cycles are still
    collected, a few hundred times less often.
    """
    gc.freeze()  # what start-up allocated (modules, schemas, the app) is never garbage
    gc.set_threshold(100_000, 50, 100)


class _RetriedByAiokafka(logging.Filter):
    """Demote the coordinator errors aiokafka retries by itself to INFO.

    On a healthy start the broker creates ``__consumer_offsets`` while the worker
    already asks for its group coordinator, and aiokafka logs each retry as
    ERROR (``GroupCoordinatorNotAvailableError``). Nothing needs doing about it;
    a coordinator that never comes shows as a worker that stays unready.
    """

    _RETRIED = ("GroupCoordinatorNotAvailableError", "NotCoordinatorForGroupError", "CoordinatorLoadInProgressError")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and any(name in record.getMessage() for name in self._RETRIED):
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def quiet_retried_errors() -> None:
    """Show only what needs action at start-up (see ``_RetriedByAiokafka``)."""
    logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(_RetriedByAiokafka())


def end_offsets(settings: Settings, topic: str | None = None) -> dict[int, int]:
    """The next offset to be written, per partition of ``topic`` (default the events topic)."""
    topic = topic or settings.topic_events
    return {p: o for (t, p), o in consumed_end_offsets(settings, (topic,)).items()}


def consumed_end_offsets(settings: Settings, topics: tuple[str, ...] | None = None) -> dict[tuple[str, int], int]:
    """The next offset to be written per partition of every topic the worker consumes (events and OpenLineage);
    a topic that does not exist has none."""
    topics = topics or (settings.topic_events, settings.topic_openlineage)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_servers,
        enable_auto_commit=False,
        **KafkaSecurity.from_settings(settings).kafka_python_options(),
    )
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or set())]
        return {(tp.topic, tp.partition): offset for tp, offset in consumer.end_offsets(tps).items()} if tps else {}
    finally:
        consumer.close()


_EX_TEMPFAIL = 75


def _add_stall_watchdog(app: faust.App, settings: Settings, ingest: Ingest, openlineage: OpenLineageService) -> None:
    """Exit when the worker is behind but has not flushed for ZL_STALL_TIMEOUT_S.

    After broker failures aiokafka's group coordination can wedge without an error
    (seen in the fault suite: heartbeat session expired, then silence). The ledger
    owns the offsets, so exiting is always safe; the supervisor (Kubernetes, or the
    fault suite) restarts the worker, which resumes from the ledger.
    """

    @app.timer(interval=max(settings.stall_timeout_s / 4, 1.0))  # type: ignore[untyped-decorator]
    async def stall_watchdog() -> None:
        if not ingest.ready.is_set() or ingest.waiting or time.monotonic() - ingest.last_progress < settings.stall_timeout_s:
            return  # waiting on ClickHouse is backpressure, not a stall
        accountant = ingest.accountant
        assert accountant is not None
        try:
            ends = await asyncio.to_thread(consumed_end_offsets, settings)
        except Exception as exc:  # the broker itself is away: nothing to do until it is back
            log.warning("stall check could not reach Kafka: %s", exc)
            return
        assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()} | openlineage.assignment()
        behind = {tp: o - 1 for tp, o in ends.items() if o > 0 and tp in assigned and accountant.written_through(*tp) < o - 1}
        if behind:
            log.critical(
                "no flush for %.0fs while behind on partitions %s; exiting so a restart resumes from the ledger",
                time.monotonic() - ingest.last_progress,
                sorted(behind),
            )
            logging.shutdown()
            os._exit(_EX_TEMPFAIL)


def _add_health(app: faust.App, ingest: Ingest) -> None:
    """``/livez``: the event loop answers. ``/readyz``: the ledger is open and the agent consumes. ``/healthz``: detail."""

    @app.page("/livez")
    async def livez(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = ingest.ready.is_set()
        return web.json({"status": "ready" if ready else "starting"}, status=200 if ready else 503)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        accountant = ingest.accountant
        body = {
            "status": "ok" if ingest.ready.is_set() else "starting",
            "written_through": {f"{t}[{p}]": o for (t, p), o in sorted(accountant.watermarks.items())} if accountant else {},
            "dedup_window_ids": len(accountant.dedup) if accountant else 0,
        }
        return web.json(body, status=200 if ingest.ready.is_set() else 503)


def _add_live_queries(app: faust.App, settings: Settings, ingest: Ingest) -> None:
    """``POST /zl/query``: read-only SQL on the chDB ledger this worker holds, for ``zl report``, ``zl export`` and
    ``zl sql`` while it runs (``sinks.live`` has the rules). Served on a loopback web port only; the token is new
    at every start and announced (0600, in the chDB directory) once the ledger is open."""
    directory = chdb_path(settings.clickhouse_dsn)
    if directory is None or not serves_live_queries(settings.clickhouse_dsn, settings.web_bind):
        if directory is not None:
            log.warning("live queries are off: ZL_WEB_BIND=%s is not a loopback address", settings.web_bind)
        return
    token = new_token()

    @app.page(QUERY_PATH)
    class LiveQuery(faust.web.View):
        async def post(self, request: Any, **kwargs: Any) -> Any:
            if not authorized(token, request.headers.get("Authorization")):  # before anything reaches ClickHouse
                return self.json({"error": "a token is required (Authorization: Bearer ...)"}, status=401)
            client = store_client(ingest.store)
            if client is None:
                return self.json({"error": "the worker is starting: the ledger is not open yet"}, status=503)
            if request.content_length is None or request.content_length > MAX_REQUEST_BYTES:
                return self.json({"error": f"send a Content-Length of at most {MAX_REQUEST_BYTES} bytes"}, status=413)
            body = await request.content.read(MAX_REQUEST_BYTES + 1)
            status, answer = await ingest.blocking(serve_query, client, token, request.headers.get("Authorization"), body)
            return self.bytes(answer, content_type="application/json", status=status)

    @app.task  # type: ignore[untyped-decorator]
    async def announce_live_queries() -> None:
        await ingest.ready.wait()
        # The ledger can open before Faust's web server listens (the OpenLineage feed opens it
        # as soon as it starts): announce only an endpoint that answers, or a reader would
        # find the worker's address and be refused.
        while True:
            try:
                _, writer = await asyncio.open_connection(settings.web_bind, settings.web_port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            break
        publish_endpoint(directory, settings.web_bind, settings.web_port, token)

    @app.on_before_shutdown.connect
    async def withdraw_live_queries(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        withdraw_endpoint(directory, token)


def _gauges(app: faust.App, settings: Settings, ingest: Ingest, openlineage: OpenLineageService) -> WorkerGauges:
    """A snapshot for the exported gauges: from memory only (the consumers' high-water marks, the accountant)."""
    accountant = ingest.accountant
    if accountant is None:
        return WorkerGauges(flush_age_s=time.monotonic() - ingest.last_progress)
    topic = settings.topic_events
    highwaters = {
        (tp.topic, tp.partition): app.consumer.highwater(tp) for tp in app.consumer.assignment() if tp.topic == topic
    } | openlineage.highwaters()
    lag = {
        (t, p): max(int(highwater) - 1 - accountant.written_through(t, p), 0)
        for (t, p), highwater in highwaters.items()
        if highwater is not None
    }
    return WorkerGauges(
        lag=lag,
        stream_time_s={p: ms / 1000 for (t, p), ms in accountant.stream_times.items() if t == topic},
        flush_age_s=time.monotonic() - ingest.last_progress,
        dedup_window_ids=len(accountant.dedup),
        dedup_horizon_s=settings.dedup_horizon_hours * 3600,
        rss_bytes=int(current_rss_mb() * 2**20),
    )


def _add_shutdown_deadline(app: faust.App, settings: Settings, ingest: Ingest) -> None:
    """Bound the graceful stop (``streams.shutdown_deadline``): it begins with the app's own ``on_stop``."""
    deadline = ShutdownDeadline(settings.shutdown_timeout_s, _EX_TEMPFAIL)

    @app.on_before_shutdown.connect
    async def bound_the_stop(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        deadline.start(asyncio.get_running_loop())
        ingest.failpoints.pause("during_stop")  # blocks the loop itself: the deadline's thread must still end it


def build_worker_app(settings: Settings) -> tuple[faust.App, Ingest]:
    app = build_app(settings)
    ingest = Ingest(settings)
    _add_shutdown_deadline(app, settings, ingest)
    register_ingest(app, settings, ingest)
    openlineage = register_openlineage(app, settings, ingest)
    _add_stall_watchdog(app, settings, ingest, openlineage)
    if settings.web_enabled:
        _add_health(app, ingest)
        _add_live_queries(app, settings, ingest)
    observe_worker(lambda: _gauges(app, settings, ingest, openlineage))
    return app, ingest


def run_worker(settings: Settings, until_caught_up: bool = False, poll_s: float = 0.5) -> RunStats:
    """Run until stopped (SIGTERM/SIGINT), or until caught up with the topic as it was at start."""
    app, ingest = build_worker_app(settings)
    tune_gc()
    quiet_retried_errors()
    if until_caught_up:
        targets = {tp: o - 1 for tp, o in consumed_end_offsets(settings).items() if o > 0}
        log.info("will stop once the ledger holds offsets %s", targets)

        @app.task  # type: ignore[untyped-decorator]
        async def stop_when_caught_up() -> None:
            await ingest.ready.wait()
            while True:
                accountant = ingest.accountant
                assert accountant is not None
                behind = {tp: o for tp, o in targets.items() if accountant.written_through(*tp) < o}
                if not behind:
                    log.info("caught up with %s; stopping", targets)
                    os.kill(os.getpid(), signal.SIGTERM)
                    return
                await asyncio.sleep(poll_s)

    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    ingest.stats.injected = dict(ingest.failpoints.injected)
    return ingest.stats
