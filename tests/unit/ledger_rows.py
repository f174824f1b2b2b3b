"""Ledger rows written directly (as a flush would), for the statistics tests on chDB."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from zettaledger.sinks.client import Client
from zettaledger.sinks.ledger import COLUMNS
from zettaledger.sinks.writer import migrate

DB = "zl_stats"
EPOCH = dt.date(1970, 1, 1)


def ready(client: Client, reporters: bool = True) -> Client:
    """Every migration (5: reporters, 6: vintages); ``reporters=False`` drops producer_id, as a ledger not yet migrated."""
    migrate(client, DB)
    if not reporters:
        client.command(f"ALTER TABLE `{DB}`.ledger DROP COLUMN producer_id")
    return client


def insert(client: Client, *rows: dict[str, Any]) -> None:
    present = {
        str(name)
        for (name,) in client.query(f"SELECT name FROM system.columns WHERE database = '{DB}' AND table = 'ledger'").result_rows
    }
    names = [c.name for c in COLUMNS if c.name in present]
    data = []
    for row in rows:
        values = {c.name: c.default for c in COLUMNS} | row
        if isinstance(values["day"], dt.date):
            values["day"] = (values["day"] - EPOCH).days
        data.append([values[n] for n in names])
    client.insert(f"`{DB}`.ledger", data, column_names=names)


def volume(
    day: dt.date, source: str, region: str, bytes: int, producer: str = "p1", late: int = 0, records: int = 1
) -> dict[str, Any]:
    return {
        "kind": "volume",
        "day": day,
        "source": source,
        "region": region,
        "bytes": bytes,
        "records": records,
        "events": 1,
        "adjustment": late,
        "producer_id": producer,
    }


def segment(offset_to: int, events: int, duplicates: int = 0, partition: int = 0) -> dict[str, Any]:
    return {
        "kind": "segment",
        "topic": "zl.events",
        "kafka_partition": partition,
        "offset_to": offset_to,
        "events": events,
        "duplicates": duplicates,
    }


def chdb_dir(tmp_path: Path) -> Path:
    return tmp_path / "chdb"
