"""The fault suite's failpoints around a ``LedgerWriter``, so the writer itself has no test hooks.

Where each point fires, exactly as the fault suite (tests/faults) expects:

    sink_down             at the start of ``write``, before the overlap check: the write fails as unavailable
    before_insert         after the overlap check, before the seen_events insert (a pause: the zombie's window)
    between_inserts       after the seen_events insert, before the ledger insert
    during_ledger_insert  same place; its SIGKILL comes from a timer while the ledger insert runs
    after_ledger_insert   after the ledger insert returned
    ambiguous_ack         after the ledger insert succeeded: an injected timeout, wrapped by the writer
                          like any driver timeout (a retryable ``SinkUnavailable``)

The last four sit between or around the writer's two inserts, which a store-level
wrapper cannot reach, so they wrap the ClickHouse client the writer is given and
fire on its insert into the ledger table (every ``write`` makes exactly one, after
the seen_events insert). The write's order stays written once, in the writer.
"""

from __future__ import annotations

from collections.abc import Callable
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

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        return self._around(table, lambda: self._client.insert(table, *args, **kwargs))

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        return self._around(table, lambda: self._client.raw_insert(table, *args, **kwargs))

    def _around(self, table: str, insert: Callable[[], Any]) -> Any:
        if table != self._ledger_table:
            self._failpoints.pause("before_insert")  # the seen_events insert: the first after the overlap check
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
        hooked = _FailpointClient(client, qualified(database, LEDGER), failpoints)
        self._writer = LedgerWriter(cast(Client, hooked), database, single_writer)
        self.single_writer = single_writer

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        self._writer.setup(cluster, dedup_horizon_hours)

    def write(self, flush: Flush) -> None:
        if self._failpoints.unavailable("sink_down"):
            raise SinkUnavailable("ClickHouse unavailable (injected outage)", retryable=True)
        self._writer.write(flush)

    def watermarks(self, topic: str) -> dict[int, int]:
        return self._writer.watermarks(topic)

    def stream_times(self, topic: str) -> dict[int, int]:
        return self._writer.stream_times(topic)

    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]:
        return self._writer.sightings(topic, ids, since_s)

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        return self._writer.holds(marks)
