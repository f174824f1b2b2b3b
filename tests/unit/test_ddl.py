"""The DDL is rendered from one column list, and keeps the guarantees the ledger relies on.

The tables are created on the real engine (chDB, in process) and read back from
``system.columns``, so a column renamed, dropped, retyped or moved in the DDL (or
in ``sinks.ledger``) fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from zettaledger.sinks.client import Client
from zettaledger.sinks.ddl import bootstrap, migrations
from zettaledger.sinks.ledger import COLUMNS, SEEN_COLUMNS, LedgerColumn
from zettaledger.sinks.lineage import LINEAGE_PROJECTIONS
from zettaledger.sinks.rollups import ROLLUPS
from zettaledger.sinks.writer import migrate

# Migration 1 is released: existing ledgers have these columns, in this order, and
# rows are inserted by these names. Renaming or dropping one in sinks.ledger breaks them.
# Later migrations only append (5: producer_id).
RELEASED_LEDGER = [
    "kind",
    "topic",
    "kafka_partition",
    "offset_from",
    "offset_to",
    "day",
    "event_time_ms",
    "source",
    "region",
    "model",
    "provider",
    "pipeline_id",
    "dataset_id",
    "parent_id",
    "owner",
    "quality_grade",
    "registration_id",
    "reason",
    "adjustment",
    "events",
    "duplicates",
    "rejected",
    "bytes",
    "records",
    "input_tokens",
    "output_tokens",
    "attempted_captures",
    "usable_captures",
    "attempted_bytes",
    "usable_bytes",
    "producer_id",
    "derivation",  # migrations 5 and 7: appended last, fresh and migrated ledgers alike
    "run_id",  # migration 8 (lineage): appended after them
    "status",
    "job",
    "has_stats",
    "suspect",
    "no_inputs",  # migration 11
]
RELEASED_SEEN = ["topic", "kafka_partition", "event_id", "offset", "batch_index", "seen_at"]
SUMS = (
    "bytes",
    "records",
    "input_tokens",
    "output_tokens",
    "attempted_captures",
    "usable_captures",
    "attempted_bytes",
    "usable_bytes",
)


def _columns(client: Client, table: str) -> list[tuple[str, str]]:
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = 'zl_ddl' AND table = {t:String} ORDER BY position",
        parameters={"t": table},
    ).result_rows
    return [(str(n), str(t)) for n, t in rows]


def _declared(columns: tuple[LedgerColumn, ...]) -> list[tuple[str, str]]:
    return [(c.name, c.sql_type) for c in columns]


def test_the_tables_hold_exactly_the_declared_columns(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    migrate(client, "zl_ddl")
    assert _columns(client, "ledger") == _declared(COLUMNS)
    assert _columns(client, "seen_events") == _declared(SEEN_COLUMNS)
    assert [name for name, _ in _columns(client, "ledger")] == RELEASED_LEDGER
    assert [name for name, _ in _columns(client, "seen_events")] == RELEASED_SEEN
    projections = {
        name
        for (name,) in client.query(
            "SELECT name FROM system.projections WHERE database = 'zl_ddl' AND table = 'ledger'"
        ).result_rows
    }
    assert projections == {rollup.name for rollup in ROLLUPS} | {p.name for p in LINEAGE_PROJECTIONS}
    tables = {name for (name,) in client.query("SELECT name FROM system.tables WHERE database = 'zl_ddl'").result_rows}
    legacy = {rollup.name for rollup in ROLLUPS} | {"mv_" + rollup.name for rollup in ROLLUPS}
    assert not tables & legacy  # migration 4 dropped them
    ledger = dict(_columns(client, "ledger"))
    assert {name: ledger.get(name) for name in SUMS} == dict.fromkeys(SUMS, "UInt256")  # no sum wraps at 2^64


def test_the_ledger_is_unpartitioned_so_a_flush_is_one_part(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    migrate(client, "zl_ddl")
    ((partition_key, sorting_key, create),) = client.query(
        "SELECT partition_key, sorting_key, create_table_query FROM system.tables WHERE database = 'zl_ddl' AND name = 'ledger'"
    ).result_rows
    assert partition_key == ""
    assert sorting_key == "kind, day, topic, kafka_partition, offset_to"
    assert "non_replicated_deduplication_window = 10000" in create


def test_every_statement_is_idempotent() -> None:
    for step in migrations("db"):
        previous = ""
        for sql in step.statements:
            rebuild = sql.startswith("INSERT INTO") and previous.startswith("TRUNCATE")
            materialize = "MATERIALIZE PROJECTION" in sql  # rebuilds the projection's parts: running it twice changes nothing
            assert "IF NOT EXISTS" in sql or "IF EXISTS" in sql or "CREATE OR REPLACE VIEW" in sql or rebuild or materialize, sql
            previous = sql


def test_released_rollup_sql_is_unchanged() -> None:
    """Migration 3 is released: what the Rollup declaration renders for it must stay what it created."""
    created = next(r for r in ROLLUPS if r.name == "rollup_created_daily")
    step = migrations("db")[2].statements
    assert step[:4] == (
        "CREATE TABLE IF NOT EXISTS `db`.`rollup_created_daily` (day Date, source LowCardinality(String), "
        "region LowCardinality(String), events UInt64, bytes UInt256, records UInt256) "
        "ENGINE = SummingMergeTree ORDER BY (day, source, region)",
        "TRUNCATE TABLE IF EXISTS `db`.`rollup_created_daily`",
        "INSERT INTO `db`.`rollup_created_daily` SELECT day, source, region, sum(events) AS events, sum(bytes) AS bytes, "
        "sum(records) AS records FROM `db`.ledger WHERE kind = 'volume' GROUP BY day, source, region",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.`mv_rollup_created_daily` TO `db`.`rollup_created_daily` AS "
        "SELECT day, source, region, sum(events) AS events, sum(bytes) AS bytes, sum(records) AS records "
        "FROM `db`.ledger WHERE kind = 'volume' GROUP BY day, source, region",
    )
    assert "CREATE OR REPLACE VIEW `db`.`data_created_by_year` AS SELECT toYear(day) AS year" in step[8]
    assert "FROM `db`.rollup_created_daily GROUP BY year, source" in step[8]
    assert created.name == "rollup_created_daily"


def test_migration_4_puts_the_rollups_inside_the_ledger_and_points_the_views_at_it() -> None:
    step = migrations("db")[3].statements
    assert step[0] == (
        "ALTER TABLE `db`.`ledger` ADD PROJECTION IF NOT EXISTS `rollup_created_daily` "
        "(SELECT kind, day, source, region, sum(events), sum(bytes), sum(records) GROUP BY kind, day, source, region)"
    )
    views = [sql for sql in step if sql.startswith("CREATE OR REPLACE VIEW")]
    assert len(views) == 4 and all("FROM `db`.`ledger` WHERE kind = " in sql for sql in views)
    # the old tables go only after the views stopped reading them
    assert max(step.index(v) for v in views) < min(i for i, sql in enumerate(step) if sql.startswith("DROP"))


def test_a_cluster_gets_replicated_engines_and_on_cluster() -> None:
    ledger = migrations("db", cluster="national")[0].statements[0]
    assert "ON CLUSTER `national`" in ledger
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/db/ledger', '{replica}')" in ledger
    assert all("ON CLUSTER" in sql for sql in bootstrap("db", "national"))
    rollups = migrations("db", cluster="national")[2].statements
    assert "ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/db/rollup_created_daily', '{replica}')" in rollups[0]
    assert all("ON CLUSTER `national`" in sql for sql in rollups if not sql.startswith("INSERT"))


def test_a_ledger_migrated_from_before_reporters_ends_like_a_fresh_one(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    client = open_chdb(tmp_path / "chdb")
    migrate(client, "zl_ddl")
    # As a ledger created before migration 5: no producer_id, steps 5 to 8 not recorded.
    for projection in LINEAGE_PROJECTIONS:
        client.command(projection.drop("zl_ddl"))
    for rollup in ROLLUPS[2:]:  # made by migration 9, over a column migration 7 adds
        client.command(rollup.drop_projection("zl_ddl"))
    for column in reversed(RELEASED_LEDGER[-8:]):
        client.command(f"ALTER TABLE zl_ddl.ledger DROP COLUMN {column}")
    client.command("DELETE FROM zl_ddl.schema_migrations WHERE version >= 5")
    assert [name for name, _ in _columns(client, "ledger")] == RELEASED_LEDGER[:-8]
    assert migrate(client, "zl_ddl") == [5, 6, 7, 8, 9, 10, 11]
    assert _columns(client, "ledger") == _declared(COLUMNS)
    tables = {name for (name,) in client.query("SELECT name FROM system.tables WHERE database = 'zl_ddl'").result_rows}
    assert {"vintages", "vintage_watermarks", "vintage_figures"} <= tables


def test_reporters_and_vintages_follow_the_cluster() -> None:
    steps = {m.version: m for m in migrations("db", cluster="national")}
    (alter,) = steps[5].statements
    assert alter == (
        "ALTER TABLE `db`.`ledger` ON CLUSTER `national` ADD COLUMN IF NOT EXISTS `producer_id` LowCardinality(String) DEFAULT ''"
    )
    assert len(steps[6].statements) == 3
    for sql, table in zip(steps[6].statements, ("vintages", "vintage_watermarks", "vintage_figures"), strict=True):
        assert f"CREATE TABLE IF NOT EXISTS `db`.`{table}` ON CLUSTER `national`" in sql
        assert f"ReplicatedMergeTree('/clickhouse/tables/{{shard}}/db/{table}', '{{replica}}')" in sql
    assert all("ON CLUSTER" not in sql and "Replicated" not in sql for sql in migrations("db")[5].statements)
