"""Where the same DDL differs between one server (or chDB) and a cluster: engines and ON CLUSTER."""

from __future__ import annotations

from zettaledger.sinks.identifiers import check_identifier, quote_identifier

__all__ = ["on_cluster", "table_engine"]


def on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {quote_identifier(cluster)}" if cluster else ""


def table_engine(table: str, database: str, cluster: str | None, kind: str = "MergeTree") -> str:
    """Plain engines on one server or chDB; Replicated ones (default macros) on a cluster."""
    if cluster is None:
        return f"{kind}"
    path = f"/clickhouse/tables/{{shard}}/{check_identifier(database)}/{check_identifier(table)}"
    return f"Replicated{kind}('{path}', '{{replica}}')"
