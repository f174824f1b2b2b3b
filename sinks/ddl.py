"""ClickHouse DDL for Zettaledger, rendered from the column lists in ``sinks.ledger``.

``migrations(...)`` returns numbered steps; ``sinks.writer.migrate`` applies the
ones a database has not recorded yet. Every statement is idempotent too, so a
step interrupted half-way is safe to run again. Pure: tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from zettaledger.sinks.engines import on_cluster, table_engine
from zettaledger.sinks.identifiers import quote_identifier
from zettaledger.sinks.ledger import COLUMNS, SEEN_COLUMNS, LedgerColumn
from zettaledger.sinks.lineage import lineage_statements, view_statement
from zettaledger.sinks.rollups import ROLLUPS, legacy_rollup_statements, projection_statements
from zettaledger.sinks.vintages import reporters_statement, vintage_statements

__all__ = ["VIEWS", "Migration", "bootstrap", "migrations", "table_engine"]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _columns(columns: tuple[LedgerColumn, ...]) -> str:
    return ",\n    ".join(f"{quote_identifier(c.name)} {c.sql_type}" for c in columns)


# Ready views for statisticians (migration 2). Each reads only the ledger, so they are
# exact whatever the merge state: sums of UInt256 and deduplicated registrations/edges.
# Migrations 3 and 4 replace the four that a rollup can answer (``sinks.rollups.ROLLUPS``).
VIEWS: dict[str, str] = {
    "data_created_by_year": """
        SELECT toYear(day) AS year, source, sum(bytes) AS bytes, sum(records) AS records, sum(events) AS events
        FROM {db}.ledger WHERE kind = 'volume' GROUP BY year, source""",
    "data_created_daily": """
        SELECT day, source, region, sum(bytes) AS bytes, sum(records) AS records, sum(events) AS events
        FROM {db}.ledger WHERE kind = 'volume' GROUP BY day, source, region""",
    "tokens_daily": """
        SELECT day, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               input_tokens + output_tokens AS tokens, sum(events) AS events
        FROM {db}.ledger WHERE kind = 'tokens' GROUP BY day""",
    "tokens_by_model_daily": """
        SELECT day, model, provider, region, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               input_tokens + output_tokens AS tokens
        FROM {db}.ledger WHERE kind = 'tokens' GROUP BY day, model, provider, region""",
    "datasets_current": """
        SELECT dataset_id,
               argMax(owner, version) AS owner, argMax(region, version) AS region,
               argMax(bytes, version) AS bytes, argMax(quality_grade, version) AS quality_grade,
               argMax(registration_id, version) AS registration_id,
               min(event_time_ms) AS first_registered_ms, count() AS registrations
        FROM (SELECT *, (event_time_ms, kafka_partition, offset_to) AS version FROM {db}.ledger WHERE kind = 'dataset')
        GROUP BY dataset_id""",
    "high_quality_datasets": """
        SELECT count() AS datasets, sum(bytes) AS bytes
        FROM {db}.datasets_current WHERE quality_grade = 'HIGH'""",
    "collection_efficiency": """
        SELECT pipeline_id, sum(events) AS runs,
               sum(attempted_captures) AS attempted_captures, sum(usable_captures) AS usable_captures,
               sum(attempted_bytes) AS attempted_bytes, sum(usable_bytes) AS usable_bytes,
               if(attempted_captures = 0, 0, toFloat64(usable_captures) / toFloat64(attempted_captures)) AS efficiency
        FROM {db}.ledger WHERE kind = 'collection' GROUP BY pipeline_id""",
    "lineage_edges": """
        SELECT parent_id, dataset_id AS child_id, min(day) AS first_day, sum(events) AS events, sum(bytes) AS bytes
        FROM {db}.ledger WHERE kind = 'lineage' GROUP BY parent_id, child_id""",
    "ingest_progress": """
        SELECT topic, kafka_partition, max(offset_to) AS committed_through, sum(events) AS events,
               sum(duplicates) AS duplicates, sum(rejected) AS rejected, count() AS flushes
        FROM {db}.ledger WHERE kind = 'segment' GROUP BY topic, kafka_partition""",
    "adjustments": """
        SELECT kind, day, source, region, model, pipeline_id, sum(events) AS events, sum(bytes) AS bytes,
               sum(input_tokens + output_tokens) AS tokens, sum(usable_captures) AS usable_captures
        FROM {db}.ledger WHERE adjustment = 1 GROUP BY kind, day, source, region, model, pipeline_id""",
    "rejections": """
        SELECT source AS event_type, reason, sum(events) AS events
        FROM {db}.ledger WHERE kind = 'rejected' GROUP BY event_type, reason""",
}


def migrations(database: str, cluster: str | None = None, dedup_horizon_hours: int = 24) -> list[Migration]:
    """Every schema step in order. Later issues append; never edit a released step."""
    db = quote_identifier(database)
    on = on_cluster(cluster)
    ledger = f"""CREATE TABLE IF NOT EXISTS {db}.ledger{on} (
    {_columns(COLUMNS)}
) ENGINE = {table_engine("ledger", database, cluster)}
ORDER BY (kind, day, topic, kafka_partition, offset_to)
SETTINGS non_replicated_deduplication_window = 10000"""
    # No PARTITION BY on purpose: one insert must land as one part to be atomic.
    seen = f"""CREATE TABLE IF NOT EXISTS {db}.seen_events{on} (
    {_columns(SEEN_COLUMNS)}
) ENGINE = {table_engine("seen_events", database, cluster, "ReplacingMergeTree")}
ORDER BY (topic, kafka_partition, event_id)
TTL seen_at + INTERVAL {int(dedup_horizon_hours)} HOUR
SETTINGS non_replicated_deduplication_window = 10000"""
    views = tuple(
        f"CREATE OR REPLACE VIEW {db}.{quote_identifier(name)}{on} AS {sql.format(db=db).strip()}" for name, sql in VIEWS.items()
    )
    return [
        Migration(1, "ledger and seen-event tables", (ledger, seen)),
        Migration(2, "statistician views", views),
        Migration(3, "rollups for the national report", legacy_rollup_statements(database, cluster)),
        Migration(
            4, "rollups as projections of the ledger: written atomically with it", projection_statements(database, cluster)
        ),
        Migration(5, "reporters: producer_id on the ledger, for disclosure control", (reporters_statement(database, cluster),)),
        Migration(6, "vintages: published figures, their watermarks and publications", vintage_statements(database, cluster)),
        Migration(
            7,
            "ledger: derivation on volume rows (original, derived, copy), so derived bytes count once per event",
            (f"ALTER TABLE {db}.ledger{on} ADD COLUMN IF NOT EXISTS `derivation` LowCardinality(String) DEFAULT ''",),
        ),
        Migration(
            8,
            "lineage: OpenLineage runs and native dataset bytes in the ledger, the graph as projections of it, the accounts",
            lineage_statements(database, cluster),
        ),
        Migration(
            9,
            "rollup of data created by derivation: derived bytes and lineage accounts without a ledger scan",
            (
                *projection_statements(database, cluster, rollups=ROLLUPS[2:]),
                view_statement("lineage_accounts", database, cluster),
            ),
        ),
        Migration(
            10,
            "lineage_graph_edges: suspect statistics count 0 in edge bytes, as in node bytes and the accounts",
            (view_statement("lineage_graph_edges", database, cluster),),
        ),
        Migration(
            11,
            "ledger: no_inputs on run rows, so an attribution's level of roots reads no run_input rows",
            # Metadata only: rows already there read 0, which claims nothing (their runs' inputs are read).
            (f"ALTER TABLE {db}.ledger{on} ADD COLUMN IF NOT EXISTS `no_inputs` UInt8",),
        ),
    ]


def bootstrap(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Statements run before migrations: the database and the table that records applied steps."""
    db = quote_identifier(database)
    on = on_cluster(cluster)
    return (
        f"CREATE DATABASE IF NOT EXISTS {db}{on}",
        f"""CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on} (
    version UInt32, description String, applied_at DateTime DEFAULT now()
) ENGINE = {table_engine("schema_migrations", database, cluster, "ReplacingMergeTree")} ORDER BY version""",
    )
