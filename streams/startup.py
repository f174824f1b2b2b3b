"""What a worker reads from the ledger before it consumes: watermarks and stream times, nothing that grows with the horizon.

Plain blocking code (no Faust): the agent runs it on the ClickHouse thread and
retries while ClickHouse is unreachable.
"""

from __future__ import annotations

import logging
import time

from zettaledger.schemas.codec import EventCodec
from zettaledger.schemas.openlineage import MappingRules, OpenLineageDecoder
from zettaledger.schemas.validation import Limits
from zettaledger.settings import Settings
from zettaledger.sinks.store import LedgerStore
from zettaledger.streams.accountant import Accountant, Caps, OpenLineageRoute
from zettaledger.streams.dedup import DedupWindow

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
    # No event id is loaded: the window starts empty, and every event at or before its
    # partition's stream time (all this worker could have seen counted) is looked up in
    # seen_events a batch at a time. Start-up reads two small aggregates, whatever the horizon.
    dedup = DedupWindow(s.dedup_horizon_hours * 3600, s.dedup_max_ids)
    # OpenLineage offsets are owned by the ledger too, with segments of their own topic.
    ol_marks = store.watermarks(s.topic_openlineage)
    log.info("ledger open: watermarks %s, OpenLineage %s, stream times %s", marks, ol_marks, stream_times)
    rules = MappingRules.parse(s.openlineage_rules, s.openlineage_default_region, s.openlineage_copy_jobs)
    return Accountant(
        EventCodec(),
        dedup,
        {(s.topic_events, p): o for p, o in marks.items()} | {(s.topic_openlineage, p): o for p, o in ol_marks.items()},
        clock_ms=lambda: int(time.time() * 1000) + clock_offset_ms,
        stream_times={(s.topic_events, p): t for p, t in stream_times.items()},
        lateness_ms=s.lateness_hours * 3_600_000,
        floors={(s.topic_events, p): t for p, t in stream_times.items()},
        openlineage=OpenLineageRoute(s.topic_openlineage, OpenLineageDecoder(rules)),
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
