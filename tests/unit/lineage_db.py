"""A chDB database with the lineage migration applied, and a way to insert folded rows into its ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from zettaledger.sinks.client import Client, execute
from zettaledger.sinks.ledger import COLUMN_NAMES, COLUMNS
from zettaledger.sinks.lineage import ADDED_COLUMNS, lineage_statements, to_tuple
from zettaledger.sinks.writer import migrate

NAMES = COLUMN_NAMES + tuple(c.name for c in ADDED_COLUMNS)
DEFAULTS = {**{c.name: c.default for c in COLUMNS}, **{c.name: c.default for c in ADDED_COLUMNS}}


def lineage_db(client: Client, database: str) -> None:
    migrate(client, database)
    execute(client, lineage_statements(database))


def insert(client: Client, database: str, rows: Iterable[Mapping[str, object]]) -> None:
    tuples = [to_tuple(r, NAMES, DEFAULTS) for r in rows]
    if tuples:
        client.insert(f"`{database}`.ledger", tuples, column_names=NAMES)
