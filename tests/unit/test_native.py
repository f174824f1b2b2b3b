"""The flush inserts' Native encoding: what ClickHouse stores from it equals what clickhouse-connect's own insert stores."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zettaledger.sinks.client import Client
from zettaledger.sinks.ledger import COLUMNS, SEEN_COLUMNS, Kind, LedgerColumn
from zettaledger.sinks.native import native_block, without_defaults
from zettaledger.sinks.rows import row

BIG = 2**200 + 12345  # an exact sum far past 2^64


def _table(client: Client, name: str, columns: tuple[LedgerColumn, ...]) -> None:
    body = ", ".join(f"`{c.name}` {c.sql_type}" for c in columns)
    client.command(f"CREATE TABLE {name} ({body}) ENGINE = MergeTree ORDER BY tuple()")


def _stored(client: Client, name: str) -> list[tuple[object, ...]]:
    return sorted(map(tuple, client.query(f"SELECT * FROM {name}").result_rows), key=repr)


def test_ledger_rows_store_as_clickhouse_connect_stores_them(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    rows = [
        row(
            Kind.VOLUME,
            day=20_000,
            source="IOT",
            region="CN-GD",
            producer_id="p-é",
            derivation="ORIGINAL",
            events=3,
            bytes=BIG,
            records=7,
        ),
        row(Kind.VOLUME, day=20_001, source="AI", region="CN-BJ", adjustment=1, events=1, bytes=2**64 - 1, records=0),
        row(Kind.SEGMENT, topic="zl.events", kafka_partition=3, offset_from=10, offset_to=2**40, event_time_ms=-5),
        row(Kind.REJECTED, reason="x" * 300, dataset_id="ds-" + "长" * 50),
    ]
    client = open_chdb(tmp_path / "chdb")
    _table(client, "ours", COLUMNS)
    _table(client, "theirs", COLUMNS)
    # only the columns some row sets: the server fills the others with their defaults, which must be ``row``'s
    columns, data = without_defaults(COLUMNS, list(zip(*rows, strict=True)))
    assert 0 < len(columns) < len(COLUMNS)
    client.raw_insert("ours", [c.name for c in columns], native_block(columns, data), fmt="Native")
    client.insert("theirs", rows, column_names=[c.name for c in COLUMNS])
    assert _stored(client, "ours") == _stored(client, "theirs")
    assert BIG in [r[COLUMNS.index(next(c for c in COLUMNS if c.name == "bytes"))] for r in _stored(client, "ours")]


def test_seen_ids_store_as_the_uuids_they_name(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(1000)] + [
        "00000000-0000-4000-8000-000000000000",
        "ffffffff-ffff-4fff-bfff-ffffffffffff",
    ]
    n = len(ids)
    seen: list[list[Any]] = [
        ["a"] * (n // 2) + ["topic-b"] * (n - n // 2),
        list(range(n)),
        ids,
        [2**63] * n,
        [7] * n,
        [1_767_225_600] * n,
    ]
    client = open_chdb(tmp_path / "chdb")
    _table(client, "seen", SEEN_COLUMNS)
    client.raw_insert("seen", [c.name for c in SEEN_COLUMNS], native_block(SEEN_COLUMNS, seen), fmt="Native")
    stored = client.query(
        "SELECT topic, kafka_partition, toString(event_id), offset, batch_index, toUnixTimestamp(seen_at) FROM seen"
    )
    assert sorted(map(tuple, stored.result_rows)) == sorted(zip(*seen, strict=True))


@pytest.mark.parametrize(
    ("column", "values", "named"),
    [
        (LedgerColumn("events", "UInt64", 0), [-1], "column events (UInt64)"),
        (LedgerColumn("kafka_partition", "UInt32", 0), [2**32], "column kafka_partition (UInt32)"),
        (LedgerColumn("bytes", "UInt256", 0), [-1], "column bytes (UInt256)"),
        (LedgerColumn("bytes", "UInt256", 0), [2**256], "column bytes (UInt256)"),
        (LedgerColumn("event_id", "UUID", ""), ["not-a-uuid"], "column event_id (UUID)"),
    ],
)
def test_a_value_that_does_not_fit_its_type_names_its_column(column: LedgerColumn, values: list[object], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        native_block((column,), [values])
