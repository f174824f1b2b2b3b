"""The ledger as the worker sees it, whatever holds it.

``LedgerWriter`` writes through clickhouse-connect (chDB or a server). ``RemoteLedger``
writes through a ledger host (``zl ledger-host``): one process that owns a chDB
directory and serialises the writes of several workers on one machine.
``open_store`` picks by URL: ``ledger+http://host:port`` for a ledger host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.writer import SeenEvent

__all__ = ["LedgerStore", "open_store"]

LEDGER_HOST_SCHEME = "ledger+http://"


class LedgerStore(Protocol):
    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None: ...
    def write(self, flush: Flush) -> None: ...
    def watermarks(self, topic: str) -> dict[int, int]: ...
    def stream_times(self, topic: str) -> dict[int, int]: ...
    def seen_since(self, topic: str, since_s: int) -> Iterator[SeenEvent]: ...
    def holds(self, marks: dict[tuple[str, int], int]) -> bool: ...


def open_store(dsn: str, database: str) -> LedgerStore:
    if dsn.startswith(LEDGER_HOST_SCHEME):
        from zettaledger.sinks.remote import RemoteLedger

        return RemoteLedger("http://" + dsn[len(LEDGER_HOST_SCHEME) :], database)
    from zettaledger.sinks.client import connect, mark_owner
    from zettaledger.sinks.writer import LedgerWriter

    client = connect(dsn)
    mark_owner(dsn)
    return LedgerWriter(client, database)
