"""Writes flushes into the ledger and reads back what a restarting worker needs.

Order of a write, and why:
1. seen event ids (tagged with the offset they came from), so a crash after this
   step and before step 2 replays those offsets without mistaking them for resends;
2. the ledger rows, one insert, one part: the flush is counted whole or not at all.
Each insert carries ``insert_deduplication_token`` so a retry after an ambiguous
acknowledgement is stored once. Kafka offsets are committed by the caller after
``write`` returns, and on restart the worker skips offsets the ledger already has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from sinks.client import SinkUnavailable, execute, wrap
from sinks.ddl import bootstrap, migrations
from sinks.ledger import COLUMN_NAMES, SEEN_COLUMNS, Flush
from zettaledger import failpoints

__all__ = ["LedgerWriter", "SeenEvent", "migrate"]

log = logging.getLogger(__name__)
_SEEN_NAMES = tuple(c.name for c in SEEN_COLUMNS)


def migrate(client: Client, database: str, cluster: str | None = None, dedup_horizon_hours: int = 24) -> list[int]:
    """Create the database, tables and views that are missing; returns the steps applied now."""
    execute(client, bootstrap(database, cluster))
    done = {int(r[0]) for r in client.query(f"SELECT version FROM `{database}`.schema_migrations").result_rows}
    applied = []
    for step in migrations(database, cluster, dedup_horizon_hours):
        if step.version in done:
            continue
        execute(client, step.statements)
        client.insert(
            f"`{database}`.schema_migrations", [[step.version, step.description]], column_names=["version", "description"]
        )
        log.info("applied ClickHouse migration %d: %s", step.version, step.description)
        applied.append(step.version)
    return applied


@dataclass(frozen=True, slots=True)
class SeenEvent:
    kafka_partition: int
    event_id: str
    offset: int
    batch_index: int
    seen_at: int  # seconds since the epoch


class LedgerWriter:
    """The sink's verbs: ``setup`` once, ``write`` per flush, ``watermarks`` and ``seen_since`` on start."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database

    @property
    def client(self) -> Client:
        return self._client

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        migrate(self._client, self._db, cluster, dedup_horizon_hours)

    def write(self, flush: Flush) -> None:
        """Persist one flush; raises ``SinkError`` (``retryable`` set) when it could not."""
        faults = failpoints.active()
        if faults.unavailable("sink_down"):
            raise SinkUnavailable("ClickHouse unavailable (injected outage)", retryable=True)
        try:
            if flush.seen:
                self._client.insert(
                    f"`{self._db}`.seen_events",
                    flush.seen,
                    column_names=_SEEN_NAMES,
                    settings={"insert_deduplication_token": flush.token + "/seen"},
                )
            faults.hit("between_inserts")
            faults.hit("during_ledger_insert")
            self._client.insert(
                f"`{self._db}`.ledger",
                flush.rows,
                column_names=COLUMN_NAMES,
                settings={"insert_deduplication_token": flush.token},
            )
            faults.hit("after_ledger_insert")
            faults.fail_after_success("ambiguous_ack")
        except (DatabaseError, OperationalError, OSError) as exc:
            raise wrap(exc, f"insert of flush {flush.token}") from exc

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        """True when the ledger already covers every topic-partition offset in ``marks``."""
        return all(self.watermarks(topic).get(partition, -1) >= offset for (topic, partition), offset in marks.items())

    def stream_times(self, topic: str) -> dict[int, int]:
        """Latest event time seen per partition (the stream time that lateness is measured against)."""
        rows = self._client.query(
            f"SELECT kafka_partition, max(event_time_ms) FROM `{self._db}`.ledger "
            "WHERE kind = 'segment' AND topic = {topic:String} GROUP BY kafka_partition",
            parameters={"topic": topic},
        ).result_rows
        return {int(p): int(t) for p, t in rows}

    def watermarks(self, topic: str) -> dict[int, int]:
        """Highest offset the ledger holds per partition of ``topic``."""
        rows = self._client.query(
            f"SELECT kafka_partition, max(offset_to) FROM `{self._db}`.ledger "
            "WHERE kind = 'segment' AND topic = {topic:String} GROUP BY kafka_partition",
            parameters={"topic": topic},
        ).result_rows
        return {int(p): int(o) for p, o in rows}

    def seen_since(self, topic: str, since_s: int) -> Iterator[SeenEvent]:
        """Event ids seen on ``topic`` at or after ``since_s``, oldest first."""
        # Streamed block by block: the window can hold millions of ids.
        with self._client.query_row_block_stream(
            f"SELECT kafka_partition, toString(event_id), offset, batch_index, toUnixTimestamp(seen_at) "
            f"FROM `{self._db}`.seen_events WHERE topic = {{topic:String}} AND seen_at >= toDateTime({{since:UInt32}}) "
            "ORDER BY seen_at, kafka_partition, offset, batch_index",
            parameters={"topic": topic, "since": since_s},
        ) as stream:
            for block in stream:
                for p, event_id, offset, index, seen_at in block:
                    yield SeenEvent(int(p), str(event_id), int(offset), int(index), int(seen_at))
