"""What a worker reads from the ledger before it consumes: watermarks, stream times and recent event ids.

Plain blocking code (no Faust): the agent runs it on the ClickHouse thread and
retries while ClickHouse is unreachable.
"""

from __future__ import annotations

import logging
import time

from zettaledger.schemas.codec import EventCodec
from zettaledger.schemas.validation import Limits
from zettaledger.settings import Settings
from zettaledger.sinks.store import LedgerStore
from zettaledger.streams.accountant import Accountant, Caps
from zettaledger.streams.dedup import DedupWindow, Sighting

__all__ = ["caps_of", "open_accountant", "require_current_schema"]

log = logging.getLogger(__name__)


def open_accountant(store: LedgerStore, settings: Settings, clock_offset_ms: int = 0) -> Accountant:
    """Set the ledger up (migrations) and build an Accountant that resumes where the ledger stands."""
    s = settings
    if s.migrate:
        store.setup(s.clickhouse_cluster or None, s.dedup_horizon_hours)
    else:
        require_current_schema(store, s)
    marks = store.watermarks(s.topic_events)
    stream_times = store.stream_times(s.topic_events)
    dedup = DedupWindow(s.dedup_horizon_hours * 3600, s.dedup_max_ids)
    since = int(time.time() + clock_offset_ms / 1000) - s.dedup_horizon_hours * 3600
    dedup.load(
        (e.event_id, Sighting(e.kafka_partition, e.offset, e.batch_index, e.seen_at))
        for e in store.seen_since(s.topic_events, since)
    )
    log.info("ledger open: watermarks %s, %d event ids in the dedup window", marks, len(dedup))
    return Accountant(
        EventCodec(),
        dedup,
        {(s.topic_events, p): o for p, o in marks.items()},
        clock_ms=lambda: int(time.time() * 1000) + clock_offset_ms,
        stream_times={(s.topic_events, p): t for p, t in stream_times.items()},
        lateness_ms=s.lateness_hours * 3_600_000,
        caps=caps_of(s),
    )


def require_current_schema(store: LedgerStore, s: Settings) -> None:
    """With ZL_MIGRATE=false: no DDL, but a clear (retried) error naming the migrations the database lacks.

    Checked where this process holds the ClickHouse client; through a ledger host, the host owns the schema."""
    from zettaledger.sinks.grants import pending_migrations, schema_behind
    from zettaledger.sinks.store import store_client

    client = store_client(store)
    if client is None:
        return
    pending = pending_migrations(client, s.clickhouse_database, s.clickhouse_cluster or None, s.dedup_horizon_hours)
    if pending:
        raise schema_behind(s.clickhouse_database, pending)


def caps_of(s: Settings) -> Caps:
    """The ``ZL_MAX_*`` settings as the accountant's caps."""
    return Caps(
        max_message_bytes=s.max_message_bytes,
        max_batch_events=s.max_batch_events,
        max_dead_letters_per_message=s.max_dead_letters_per_message,
        limits=Limits(max_id=s.max_id_length, max_parents=s.max_parents),
    )
