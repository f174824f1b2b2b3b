"""The fault suite's failpoints around a ``LedgerWriter``, so the writer itself has no test hooks.

Where each point fires, exactly as the fault suite (tests/faults) expects:

    sink_down             at the start of ``write``, before the overlap check: the write fails as unavailable
    before_insert         after the overlap check, before the write's first insert (seen_events, or the
                          ledger's when the flush has no seen ids): a pause, the zombie's window
    between_inserts       after the seen_events insert, before the ledger insert
    during_ledger_insert  same place; its SIGKILL comes from a timer while the ledger insert runs
    after_ledger_insert   after the ledger insert returned
    ambiguous_ack         after the ledger insert succeeded: an injected timeout, wrapped by the writer
                          like any driver timeout (a retryable ``SinkUnavailable``)

The last five sit between or around the writer's inserts, which a store-level
wrapper cannot reach, so they wrap the ClickHouse client the writer is given and
fire on its insert into the ledger table (every ``write`` makes exactly one, after
the seen_events insert). The write's order stays written once, in the writer.

``before_insert`` counts writes, not inserts: ``setup`` inserts into schema_migrations
too (one row per migration), and counting those moved ``pause:S@N`` from the Nth
write into the migrations whenever a migration was added, so the fault suite paused
a worker's start-up instead of a flush. The point is armed by ``FailpointStore.write``
for its own thread (a ledger host runs several writes at once) and fires on that
write's first insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from clickhouse_connect.driver.client import Client

from zettaledger.failpoints import Failpoints
from zettaledger.sinks.client import SinkUnavailable
from zettaledger.sinks.identifiers import qualified
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.store import LedgerStore
from zettaledger.sinks.writer import LEDGER, LedgerWriter

__all__ = ["FailpointStore"]


class _FailpointClient:
    """Passes everything through to ``client``; fires the insert points around inserts into ``ledger_table``."""

    def __init__(self, client: Client, ledger_table: str, failpoints: Failpoints) -> None:
        self._client = client
        self._ledger_table = ledger_table
        self._failpoints = failpoints
        self._write = threading.local()  # per thread: the write under way has not inserted anything yet

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Within: one ``write`` on this thread, whose first insert fires ``before_insert``."""
        self._write.first_insert = True
        try:
            yield
        finally:
            self._write.first_insert = False  # a write refused by its check inserts nothing: setup never pauses

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        return self._around(table, lambda: self._client.insert(table, *args, **kwargs))

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        return self._around(table, lambda: self._client.raw_insert(table, *args, **kwargs))

    def _around(self, table: str, insert: Callable[[], Any]) -> Any:
        if getattr(self._write, "first_insert", False):
            self._write.first_insert = False
            self._failpoints.pause("before_insert")  # the overlap check has passed; nothing is inserted yet
        if table != self._ledger_table:
            return insert()
        self._failpoints.hit("between_inserts")
        self._failpoints.hit("during_ledger_insert")
        summary = insert()
        self._failpoints.hit("after_ledger_insert")
        self._failpoints.fail_after_success("ambiguous_ack")
        return summary

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class FailpointStore(LedgerStore):
    """A ``LedgerWriter`` on ``client`` with ``failpoints`` firing where the module docstring says."""

    def __init__(self, client: Client, database: str, failpoints: Failpoints, single_writer: bool = False) -> None:
        self._failpoints = failpoints
        self._hooked = _FailpointClient(client, qualified(database, LEDGER), failpoints)
        self._writer = LedgerWriter(cast(Client, self._hooked), database, single_writer)
        self.single_writer = single_writer

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        self._writer.setup(cluster, dedup_horizon_hours)

    def write(self, flush: Flush) -> None:
        if self._failpoints.unavailable("sink_down"):
            raise SinkUnavailable("ClickHouse unavailable (injected outage)", retryable=True)
        with self._hooked.writing():
            self._writer.write(flush)

    def watermarks(self, topic: str) -> dict[int, int]:
        return self._writer.watermarks(topic)

    def stream_times(self, topic: str) -> dict[int, int]:
        return self._writer.stream_times(topic)

    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]:
        return self._writer.sightings(topic, ids, since_s)

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        return self._writer.holds(marks)
