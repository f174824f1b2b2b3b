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
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import SinkError, execute, wrap
from zettaledger.sinks.ddl import bootstrap, migrations
from zettaledger.sinks.identifiers import qualified
from zettaledger.sinks.ledger import COLUMN_NAMES, COLUMNS, SEEN_COLUMNS, Flush, LedgerColumn
from zettaledger.sinks.native import native_block, without_defaults

__all__ = ["LEDGER", "SEEN_EVENTS", "LedgerConflict", "LedgerWriter", "migrate", "segments_of"]

LEDGER = "ledger"
SEEN_EVENTS = "seen_events"


class LedgerConflict(SinkError):
    """The ledger already holds offsets this flush would write: re-plan from ``watermarks``.

    ``fenced``: found after the insert, because ClickHouse kept another writer's insert
    with the same token (the storage's fence) rather than before it by the overlap check.
    """

    def __init__(self, watermarks: dict[tuple[str, int], int], fenced: bool = False) -> None:
        held = ", ".join(f"{t}[{p}]<={o}" for (t, p), o in sorted(watermarks.items()))
        how = "kept another worker's insert of the same offsets" if fenced else "already holds offsets of this flush"
        super().__init__(f"the ledger {how} ({held}); another worker wrote them")
        self.watermarks = watermarks
        self.fenced = fenced


log = logging.getLogger(__name__)
_KIND, _TOPIC, _PARTITION, _FROM, _TO = (
    COLUMN_NAMES.index(c) for c in ("kind", "topic", "kafka_partition", "offset_from", "offset_to")
)


def segments_of(flush: Flush) -> list[tuple[str, int, int, int]]:
    """(topic, partition, first offset, last offset) of each segment row of ``flush``."""
    return [
        (str(r[_TOPIC]), int(r[_PARTITION]), int(r[_FROM]), int(r[_TO]))  # type: ignore[call-overload]
        for r in flush.rows
        if r[_KIND] == "segment"
    ]


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


class LedgerWriter:
    """The sink's verbs: ``setup`` once, ``write`` per flush, ``watermarks`` and ``stream_times`` on start, ``sightings`` for old events."""

    def __init__(self, client: Client, database: str, single_writer: bool = False) -> None:
        self._client = client
        self._db = database
        # True where this process is the only writer there can be (it holds the chDB directory):
        # no other worker can race it, so the overlap check and the read-back are skipped.
        self.single_writer = single_writer
        self._ledger = qualified(database, LEDGER)
        self._seen = qualified(database, SEEN_EVENTS)

    @property
    def client(self) -> Client:
        return self._client

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        migrate(self._client, self._db, cluster, dedup_horizon_hours)

    def write(self, flush: Flush) -> None:
        """Persist one flush; raises ``SinkError`` (``retryable`` set) when it could not.

        Fencing, in two steps. The overlap check before the insert is the fast path: it
        refuses what the ledger visibly holds. The guarantee is the storage's own: the
        flush's token names where it starts in each partition (``sinks.rows.flush_token``),
        so of two writers that start a partition at the same offset, ClickHouse's block
        deduplication keeps exactly one insert, atomically (in memory on one server, in
        Keeper on a replicated cluster). The segments read back after the insert say
        whether it was ours; if not, ``LedgerConflict(fenced=True)``. A single writer (a
        worker that holds its chDB directory) has nobody to fence, and skips both reads.
        """
        if not self.single_writer:
            self.check_unheld(flush)
        try:
            if flush.seen:
                self._insert(self._seen, SEEN_COLUMNS, flush.seen, flush.token + "/seen")
            if flush.rows:
                self._insert(self._ledger, COLUMNS, list(zip(*flush.rows, strict=True)), flush.token)
        except (DatabaseError, OperationalError, OSError) as exc:
            raise wrap(exc, f"insert of flush {flush.token}") from exc
        if not self.single_writer:
            self._check_kept(flush)

    def _insert(self, table: str, columns: Sequence[LedgerColumn], data: Sequence[Sequence[Any]], token: str) -> None:
        """One insert of ``data`` (a sequence per column), stored once per ``token`` however often it is sent."""
        columns, data = without_defaults(columns, data)
        self._client.raw_insert(
            table,
            [c.name for c in columns],
            native_block(columns, data),
            settings={"insert_deduplication_token": token},
            fmt="Native",
        )

    def _check_kept(self, flush: Flush) -> None:
        """Raise ``LedgerConflict(fenced=True)`` unless the ledger holds this flush's own segments.

        Told apart by where each segment ends: a loser whose flush ended exactly where the
        winner's did (the same offsets under the same token) is refused all the same, but
        cannot see it here, and goes on as though its own insert were kept.
        """
        mine = segments_of(flush)
        if not mine:
            return
        for topic in {t for t, _, _, _ in mine}:
            starts = " OR ".join(
                f"(kafka_partition = {int(p)} AND offset_from = {int(first)})" for t, p, first, _ in mine if t == topic
            )
            try:
                stored = {
                    (int(p), int(first)): int(last)
                    for p, first, last in self._client.query(
                        f"SELECT kafka_partition, offset_from, offset_to FROM {self._ledger} "
                        f"WHERE kind = 'segment' AND topic = {{topic:String}} AND ({starts})",
                        parameters={"topic": topic},
                    ).result_rows
                }
            except (DatabaseError, OperationalError, OSError) as exc:
                raise wrap(exc, f"read-back of flush {flush.token}") from exc
            if any(stored.get((p, first)) != last for t, p, first, last in mine if t == topic):
                raise LedgerConflict({(topic, p): o for p, o in self.watermarks(topic).items()}, fenced=True)

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

    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]:
        """Where each of ``ids`` (per partition) was first counted on ``topic`` at or after ``since_s``.

        ``seen_events`` is ordered by (topic, kafka_partition, event_id), so each partition's
        lookup is a set of primary-key ranges, however many ids the table holds.
        """
        found: dict[str, tuple[int, int, int, int]] = {}
        for partition, wanted in ids.items():
            try:
                rows = self._client.query(
                    f"SELECT lower(toString(event_id)), offset, batch_index, toUnixTimestamp(seen_at) FROM {self._seen} "
                    "WHERE topic = {topic:String} AND kafka_partition = {partition:UInt32} "
                    "AND event_id IN {ids:Array(UUID)} AND seen_at >= toDateTime({since:UInt32}) "
                    "ORDER BY offset DESC, batch_index DESC",
                    parameters={"topic": topic, "partition": partition, "ids": sorted(set(wanted)), "since": since_s},
                ).result_rows
            except (DatabaseError, OperationalError, OSError) as exc:
                raise wrap(exc, f"lookup of {len(wanted)} event ids") from exc
            for event_id, offset, index, seen_at in rows:  # the earliest sighting last, so it wins
                found[str(event_id)] = (int(partition), int(offset), int(index), int(seen_at))
        return found
