"""A chDB database with every migration applied (the lineage step included), and a way to insert folded rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from zettaledger.sinks.client import Client
from zettaledger.sinks.identifiers import qualified
from zettaledger.sinks.ledger import COLUMN_NAMES, Kind
from zettaledger.sinks.rows import row
from zettaledger.sinks.writer import migrate

__all__ = ["insert", "lineage_db"]


def lineage_db(client: Client, database: str) -> None:
    migrate(client, database)


def insert(client: Client, database: str, rows: Iterable[Mapping[str, object]]) -> None:
    tuples = [row(Kind(str(r["kind"])), **{k: v for k, v in r.items() if k != "kind"}) for r in rows]
    if tuples:
        client.insert(qualified(database, "ledger"), tuples, column_names=COLUMN_NAMES)
