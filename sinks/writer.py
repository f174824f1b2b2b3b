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

from zettaledger.sinks.client import SinkError, execute, wrap
from zettaledger.sinks.ddl import bootstrap, migrations
from zettaledger.sinks.identifiers import qualified
from zettaledger.sinks.ledger import COLUMN_NAMES, SEEN_COLUMNS, Flush

__all__ = ["LEDGER", "SEEN_EVENTS", "LedgerConflict", "LedgerWriter", "SeenEvent", "migrate"]

LEDGER = "ledger"
SEEN_EVENTS = "seen_events"


class LedgerConflict(SinkError):
    """The ledger already holds offsets this flush would write: re-plan from ``watermarks``."""

    def __init__(self, watermarks: dict[tuple[str, int], int]) -> None:
        held = ", ".join(f"{t}[{p}]<={o}" for (t, p), o in sorted(watermarks.items()))
        super().__init__(f"the ledger already holds offsets of this flush ({held}); another worker wrote them")
        self.watermarks = watermarks


log = logging.getLogger(__name__)
_SEEN_NAMES = tuple(c.name for c in SEEN_COLUMNS)


def migrate(client: Client, database: str, cluster: str | None = None, dedup_horizon_hours: int = 24) -> list[int]:
    """Create the database, tables and views that are missing; returns the steps applied now."""
    execute(client, bootstrap(database, cluster))
    migrations_table = qualified(database, "schema_migrations")
    done = {int(r[0]) for r in client.query(f"SELECT version FROM {migrations_table}").result_rows}
    applied = []
    for step in migrations(database, cluster, dedup_horizon_hours):
        if step.version in done:
            continue
        execute(client, step.statements)
        client.insert(migrations_table, [[step.version, step.description]], column_names=["version", "description"])
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
        self._ledger = qualified(database, LEDGER)
        self._seen = qualified(database, SEEN_EVENTS)

    @property
    def client(self) -> Client:
        return self._client

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        migrate(self._client, self._db, cluster, dedup_horizon_hours)

    def write(self, flush: Flush) -> None:
        """Persist one flush; raises ``SinkError`` (``retryable`` set) when it could not."""
        self.check_unheld(flush)
        try:
            if flush.seen:
                self._client.insert(
                    self._seen,
                    flush.seen,
                    column_names=_SEEN_NAMES,
                    column_oriented=True,
                    settings={"insert_deduplication_token": flush.token + "/seen"},
                )
            self._client.insert(
                self._ledger,
                flush.rows,
                column_names=COLUMN_NAMES,
                settings={"insert_deduplication_token": flush.token},
            )
        except (DatabaseError, OperationalError, OSError) as exc:
            raise wrap(exc, f"insert of flush {flush.token}") from exc

    def check_unheld(self, flush: Flush) -> None:
        """Refuse a flush that overlaps what the ledger holds. Atomic where one process writes
        (chDB, or the ledger host, which serialises writers); on a shared server it narrows
        a zombie writer's window to the moment between this check and the insert."""
        if not flush.starts:
            return
        held: dict[tuple[str, int], int] = {}
        for topic in {t for t, _ in flush.starts}:
            held.update({(topic, p): o for p, o in self.watermarks(topic).items()})
        overlapping = {tp: held[tp] for tp, start in flush.starts.items() if held.get(tp, -1) >= start}
        if overlapping:
            raise LedgerConflict(held)

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        """True when the ledger already covers every topic-partition offset in ``marks``."""
        held = {topic: self.watermarks(topic) for topic in {t for t, _ in marks}}
        return all(held[topic].get(partition, -1) >= offset for (topic, partition), offset in marks.items())

    def stream_times(self, topic: str) -> dict[int, int]:
        """Latest event time seen per partition (the stream time that lateness is measured against)."""
        rows = self._client.query(
            f"SELECT kafka_partition, max(event_time_ms) FROM {self._ledger} "
            "WHERE kind = 'segment' AND topic = {topic:String} GROUP BY kafka_partition",
            parameters={"topic": topic},
        ).result_rows
        return {int(p): int(t) for p, t in rows}

    def watermarks(self, topic: str) -> dict[int, int]:
        """Highest offset the ledger holds per partition of ``topic``."""
        rows = self._client.query(
            f"SELECT kafka_partition, max(offset_to) FROM {self._ledger} "
            "WHERE kind = 'segment' AND topic = {topic:String} GROUP BY kafka_partition",
            parameters={"topic": topic},
        ).result_rows
        return {int(p): int(o) for p, o in rows}

    def seen_since(self, topic: str, since_s: int) -> Iterator[SeenEvent]:
        """Event ids seen on ``topic`` at or after ``since_s``, oldest first."""
        # Streamed block by block: the window can hold millions of ids.
        with self._client.query_row_block_stream(
            f"SELECT kafka_partition, toString(event_id), offset, batch_index, toUnixTimestamp(seen_at) "
            f"FROM {self._seen} WHERE topic = {{topic:String}} AND seen_at >= toDateTime({{since:UInt32}}) "
            "ORDER BY seen_at, kafka_partition, offset, batch_index",
            parameters={"topic": topic, "since": since_s},
        ) as stream:
            for block in stream:
                for p, event_id, offset, index, seen_at in block:
                    yield SeenEvent(int(p), str(event_id), int(offset), int(index), int(seen_at))
