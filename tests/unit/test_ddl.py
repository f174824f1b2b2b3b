"""The DDL is rendered from one column list, and keeps the guarantees the ledger relies on."""

from __future__ import annotations

from zettaledger.sinks.ddl import bootstrap, migrations
from zettaledger.sinks.ledger import COLUMNS


def test_no_sum_column_can_wrap_at_two_to_the_64() -> None:
    for column in COLUMNS:
        if column.name in {"bytes", "records", "input_tokens", "output_tokens", "attempted_bytes", "usable_bytes"}:
            assert column.sql_type == "UInt256"


def test_the_ledger_is_unpartitioned_so_a_flush_is_one_part() -> None:
    ledger = migrations("db")[0].statements[0]
    assert "PARTITION BY" not in ledger
    assert "non_replicated_deduplication_window" in ledger


def test_every_statement_is_idempotent() -> None:
    for step in migrations("db"):
        previous = ""
        for sql in step.statements:
            rebuild = sql.startswith("INSERT INTO") and previous.startswith("TRUNCATE")
            assert "IF NOT EXISTS" in sql or "IF EXISTS" in sql or "CREATE OR REPLACE VIEW" in sql or rebuild, sql
            previous = sql


def test_rollups_sum_in_256_bits_and_feed_the_report_views() -> None:
    rollups = migrations("db")[2].statements
    assert any("SummingMergeTree" in s and "bytes UInt256" in s for s in rollups)
    assert any("MATERIALIZED VIEW" in s and "rollup_created_daily" in s for s in rollups)
    assert any("VIEW `db`.`data_created_by_year`" in s and "rollup_created_daily" in s for s in rollups)


def test_a_cluster_gets_replicated_engines_and_on_cluster() -> None:
    ledger = migrations("db", cluster="national")[0].statements[0]
    assert "ON CLUSTER `national`" in ledger
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/db/ledger', '{replica}')" in ledger
    assert all("ON CLUSTER" in sql for sql in bootstrap("db", "national"))
