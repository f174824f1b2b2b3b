"""ClickHouse DDL for Zettaledger, rendered from the column lists in ``sinks.ledger``.

``migrations(...)`` returns numbered steps; ``sinks.writer.migrate`` applies the
ones a database has not recorded yet. Every statement is idempotent too, so a
step interrupted half-way is safe to run again. Pure: tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from zettaledger.sinks.ledger import COLUMNS, SEEN_COLUMNS, LedgerColumn

__all__ = ["VIEWS", "Migration", "bootstrap", "migrations", "table_engine"]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _quote_ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"identifier {name!r} may hold only letters, digits and _")
    return f"`{name}`"


def _columns(columns: tuple[LedgerColumn, ...]) -> str:
    return ",\n    ".join(f"{_quote_ident(c.name)} {c.sql_type}" for c in columns)


def table_engine(table: str, database: str, cluster: str | None, kind: str = "MergeTree") -> str:
    """Plain engines on one server or chDB; Replicated ones (default macros) on a cluster."""
    if cluster is None:
        return f"{kind}"
    return f"Replicated{kind}('/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}')"


def _on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {_quote_ident(cluster)}" if cluster else ""


# Ready views for statisticians. Each reads only the ledger, so they are exact
# whatever the merge state: sums of UInt256 and deduplicated registrations/edges.
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


# Rollups: SummingMergeTree tables fed by materialised views on the ledger, so the
# national report reads thousands of rows, not one per flush cell. The ledger stays
# the source of truth: ``sinks.rollups`` checks and rebuilds them from it.
ROLLUPS: dict[str, tuple[str, str, str]] = {
    # name: (key columns with types, summed columns with types, SELECT from the ledger)
    "rollup_created_daily": (
        "day Date, source LowCardinality(String), region LowCardinality(String)",
        "events UInt64, bytes UInt256, records UInt256",
        "SELECT day, source, region, sum(events) AS events, sum(bytes) AS bytes, sum(records) AS records "
        "FROM {db}.ledger WHERE kind = 'volume' GROUP BY day, source, region",
    ),
    "rollup_tokens_daily": (
        "day Date, model LowCardinality(String), provider LowCardinality(String), region LowCardinality(String)",
        "events UInt64, input_tokens UInt256, output_tokens UInt256",
        "SELECT day, model, provider, region, sum(events) AS events, sum(input_tokens) AS input_tokens, "
        "sum(output_tokens) AS output_tokens FROM {db}.ledger WHERE kind = 'tokens' GROUP BY day, model, provider, region",
    ),
}

ROLLUP_VIEWS: dict[str, str] = {
    "data_created_by_year": """
        SELECT toYear(day) AS year, source, sum(bytes) AS bytes, sum(records) AS records, sum(events) AS events
        FROM {db}.rollup_created_daily GROUP BY year, source""",
    "data_created_daily": """
        SELECT day, source, region, sum(bytes) AS bytes, sum(records) AS records, sum(events) AS events
        FROM {db}.rollup_created_daily GROUP BY day, source, region""",
    "tokens_daily": """
        SELECT day, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               input_tokens + output_tokens AS tokens, sum(events) AS events
        FROM {db}.rollup_tokens_daily GROUP BY day""",
    "tokens_by_model_daily": """
        SELECT day, model, provider, region, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               input_tokens + output_tokens AS tokens
        FROM {db}.rollup_tokens_daily GROUP BY day, model, provider, region""",
}


def rollup_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Tables, backfill from the ledger, then the views that keep them current.

    Run before any worker writes (migrations run at worker start-up, before it
    consumes), so nothing is inserted between the backfill and the view.
    """
    db = _quote_ident(database)
    on = _on_cluster(cluster)
    out: list[str] = []
    for name, (keys, sums, select) in ROLLUPS.items():
        key_names = ", ".join(part.split()[0] for part in keys.split(", "))
        out.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{_quote_ident(name)}{on} ({keys}, {sums}) "
            f"ENGINE = {table_engine(name, database, cluster, 'SummingMergeTree')} ORDER BY ({key_names})"
        )
        # TRUNCATE then INSERT: a step interrupted and run again rebuilds, never doubles.
        out.append(f"TRUNCATE TABLE IF EXISTS {db}.{_quote_ident(name)}{on}")
        out.append(f"INSERT INTO {db}.{_quote_ident(name)} {select.format(db=db)}")
        out.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{_quote_ident('mv_' + name)}{on} TO {db}.{_quote_ident(name)} AS {select.format(db=db)}"
        )
    for view, sql in ROLLUP_VIEWS.items():
        out.append(f"CREATE OR REPLACE VIEW {db}.{_quote_ident(view)}{on} AS {sql.format(db=db).strip()}")
    return tuple(out)


def migrations(database: str, cluster: str | None = None, dedup_horizon_hours: int = 24) -> list[Migration]:
    """Every schema step in order. Later issues append; never edit a released step."""
    db = _quote_ident(database)
    on = _on_cluster(cluster)
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
        f"CREATE OR REPLACE VIEW {db}.{_quote_ident(name)}{on} AS {sql.format(db=db).strip()}" for name, sql in VIEWS.items()
    )
    return [
        Migration(1, "ledger and seen-event tables", (ledger, seen)),
        Migration(2, "statistician views", views),
        Migration(3, "rollups for the national report", rollup_statements(database, cluster)),
    ]


def bootstrap(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Statements run before migrations: the database and the table that records applied steps."""
    db = _quote_ident(database)
    on = _on_cluster(cluster)
    return (
        f"CREATE DATABASE IF NOT EXISTS {db}{on}",
        f"""CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on} (
    version UInt32, description String, applied_at DateTime DEFAULT now()
) ENGINE = {table_engine("schema_migrations", database, cluster, "ReplacingMergeTree")} ORDER BY version""",
    )
