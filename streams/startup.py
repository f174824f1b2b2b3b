"""What a worker reads from the ledger before it consumes: watermarks and stream times, nothing that grows with the horizon.

Plain blocking code (no Faust): the agent runs it on the ClickHouse thread and
retries while ClickHouse is unreachable.
"""

from __future__ import annotations

import logging
import time

from zettaledger.schemas.codec import EventCodec
from zettaledger.schemas.openlineage import MappingRules, OpenLineageDecoder
from zettaledger.settings import Settings
from zettaledger.sinks.store import LedgerStore
from zettaledger.streams.accountant import Accountant, OpenLineageRoute
from zettaledger.streams.dedup import DedupWindow

__all__ = ["open_accountant"]

log = logging.getLogger(__name__)


def open_accountant(store: LedgerStore, settings: Settings, clock_offset_ms: int = 0) -> Accountant:
    """Set the ledger up (migrations) and build an Accountant that resumes where the ledger stands."""
    s = settings
    store.setup(s.clickhouse_cluster or None, s.dedup_horizon_hours)
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
    )
