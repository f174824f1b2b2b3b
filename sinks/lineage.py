"""The lineage graph in ClickHouse: ledger rows for OpenLineage runs, the graph tables fed from them, the accounts.

**Rows.** OpenLineage facts are written into the ledger, in the same insert as the
flush's segment rows, so they are exactly as durable as native figures and covered by
the same offsets (the ledger owns them). Three new kinds:

- ``run``: one run and one of its outputs (``dataset_id``; ``''`` for a run without
  outputs) at one moment: ``status`` (START ... COMPLETE/FAIL/ABORT), statistics
  (``bytes``, ``records``, ``has_stats``, ``suspect``), ``derivation``, ``source``,
  ``region``, ``job``, and the version ``(event_time_ms, kafka_partition, offset_to)``
  of the event it came from;
- ``run_input``: ``parent_id`` was read by the run that wrote ``dataset_id``;
- ``touch``: a DatasetEvent (``status='DATASET'``) or JobEvent (``'JOB'``) named the dataset.

**Why the accounts are exact however often a run is sent.** A run is resolved from
*all* its rows, wherever and however often they were written, by one rule:

- its statistics per output are those of the row with the highest version among rows
  that carry statistics (``argMaxIf(..., has_stats)``): the last statistics win, and a
  COMPLETE without statistics (Spark sends them on RUNNING) keeps the earlier ones;
- its status is that of the highest-version row with a terminal status; the run counts
  (in the day of that row) only if that status is COMPLETE. FAIL and ABORT count nothing
  and stay visible (``openlineage_runs``).

A resent event adds a row equal to one already there (same version, same values), which
changes no argMax; a second COMPLETE of a run is the same run again. So nothing is ever
summed over the events of a run: sums run over distinct (run, output) pairs. Rows are
written once per offset (the flusher refuses offsets the ledger holds), and a worker
restarting mid-run needs no state back: the rows of the run's earlier events are in the
ledger, and the resolution reads them.

**Graph tables** (AggregatingMergeTree and ReplacingMergeTree, fed by materialised views
on the ledger, checked and rebuilt from it like the rollups): ``lineage_node_runs``
ordered by (dataset, run) holds the argMax states; ``lineage_edges_up`` ordered by
(child, parent, run) and ``lineage_edges_down`` ordered by (parent, child, run) hold
which run read what, so one level of an upstream or downstream walk reads only the
index ranges of its frontier.

Pure: statements and rows are built here and tested on chDB; nothing is executed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from zettaledger.sinks.engines import on_cluster, table_engine
from zettaledger.sinks.identifiers import quote_identifier

__all__ = [
    "ADDED_COLUMNS",
    "GRAPH_TABLES",
    "LINEAGE_VIEWS",
    "LineageKind",
    "drop_graph_statements",
    "graph_statements",
    "kind_enum",
    "ledger_columns_statements",
    "lineage_statements",
    "to_tuple",
]


class LineageKind(StrEnum):
    """Ledger kinds added for lineage, numbered after the seven of ``sinks.ledger.Kind``."""

    RUN = "run"
    RUN_INPUT = "run_input"
    TOUCH = "touch"


_EXISTING_KINDS = ("segment", "volume", "tokens", "dataset", "collection", "lineage", "rejected")


def kind_enum() -> str:
    names = (*_EXISTING_KINDS, *(k.value for k in LineageKind))
    return "Enum8(" + ", ".join(f"'{k}' = {i}" for i, k in enumerate(names, 1)) + ")"


@dataclass(frozen=True)
class AddedColumn:
    name: str
    sql_type: str
    default: object


# Appended to sinks.ledger.COLUMNS (in this order). ``derivation`` is already there (migration 7, native volume rows).
ADDED_COLUMNS: tuple[AddedColumn, ...] = (
    AddedColumn("run_id", "String", ""),
    AddedColumn("status", "LowCardinality(String)", ""),
    AddedColumn("job", "String", ""),
    AddedColumn("has_stats", "UInt8", 0),
    AddedColumn("suspect", "UInt8", 0),
)


def to_tuple(values: Mapping[str, object], names: Sequence[str], defaults: Mapping[str, object]) -> tuple[object, ...]:
    """A ledger row in ``names`` order from the values a builder set; the rest take their defaults."""
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"not ledger columns: {sorted(unknown)}")
    return tuple(values.get(n, defaults[n]) for n in names)


_q = quote_identifier  # the one quoting helper (isalnum accepted non-ASCII letters)
_on = on_cluster


def _engine(table: str, database: str, cluster: str | None, kind: str) -> str:
    return table_engine(table, database, cluster, kind)


def ledger_columns_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """ALTERs that give an existing ledger the new kinds and columns (metadata only, no rewrite).

    The rollup projections group by ``kind``, and ClickHouse refuses to alter a column a
    projection uses: they are dropped first and built again after (the views read the
    rows meanwhile, so they stay exact).
    """
    from zettaledger.sinks.rollups import ROLLUPS

    db, on = _q(database), _on(cluster)
    out = [rollup.drop_projection(database, cluster) for rollup in ROLLUPS]
    out.append(f"ALTER TABLE {db}.ledger{on} MODIFY COLUMN `kind` {kind_enum()}")
    out += [f"ALTER TABLE {db}.ledger{on} ADD COLUMN IF NOT EXISTS {_q(c.name)} {c.sql_type}" for c in ADDED_COLUMNS]
    for rollup in ROLLUPS:
        out += [rollup.add_projection(database, cluster), rollup.materialize(database, cluster)]
    return tuple(out)


_VERSION = "tuple(event_time_ms, kafka_partition, offset_to)"
_VERSION_TYPE = "Tuple(Int64, UInt32, UInt64)"
_TERMINAL = "status IN ('COMPLETE', 'FAIL', 'ABORT')"

# name: (columns, engine, ORDER BY, SELECT from the ledger)
GRAPH_TABLES: dict[str, tuple[str, str, str, str]] = {
    "lineage_node_runs": (
        "dataset_id String, run_id String, "
        f"stats AggregateFunction(argMaxIf, Tuple(UInt256, UInt256, UInt8), {_VERSION_TYPE}, UInt8), "
        f"final AggregateFunction(argMaxIf, Tuple(String, Date, String, String, String, String), {_VERSION_TYPE}, UInt8), "
        "first_ms SimpleAggregateFunction(min, Int64), last_ms SimpleAggregateFunction(max, Int64), "
        "touches SimpleAggregateFunction(groupUniqArrayArray, Array(String))",
        "AggregatingMergeTree",
        "dataset_id, run_id",
        "SELECT dataset_id, run_id, "
        f"argMaxIfState(tuple(bytes, records, suspect), {_VERSION}, has_stats = 1) AS stats, "
        f"argMaxIfState(tuple(toString(status), day, toString(source), toString(region), toString(derivation), job), {_VERSION}, {_TERMINAL}) AS final, "
        "min(event_time_ms) AS first_ms, max(event_time_ms) AS last_ms, groupUniqArray(toString(status)) AS touches "
        "FROM {db}.ledger WHERE kind IN ('run', 'touch') AND dataset_id != '' GROUP BY dataset_id, run_id",
    ),
    "lineage_runs": (
        "run_id String, job String, "
        f"final AggregateFunction(argMaxIf, Tuple(String, Date, String, String), {_VERSION_TYPE}, UInt8), "
        f"latest AggregateFunction(argMax, String, {_VERSION_TYPE}), "
        "first_ms SimpleAggregateFunction(min, Int64), last_ms SimpleAggregateFunction(max, Int64), "
        "rows SimpleAggregateFunction(sum, UInt64)",
        "AggregatingMergeTree",
        "run_id, job",
        "SELECT run_id, job, "
        f"argMaxIfState(tuple(toString(status), day, toString(source), toString(region)), {_VERSION}, {_TERMINAL}) AS final, "
        f"argMaxState(toString(status), {_VERSION}) AS latest, "
        "min(event_time_ms) AS first_ms, max(event_time_ms) AS last_ms, toUInt64(count()) AS rows "
        "FROM {db}.ledger WHERE kind = 'run' GROUP BY run_id, job",
    ),
    "lineage_edges_up": (
        "child String, parent String, run_id String",
        "ReplacingMergeTree",
        "child, parent, run_id",
        "SELECT dataset_id AS child, parent_id AS parent, run_id FROM {db}.ledger WHERE kind = 'run_input'",
    ),
    "lineage_edges_down": (
        "parent String, child String, run_id String",
        "ReplacingMergeTree",
        "parent, child, run_id",
        "SELECT parent_id AS parent, dataset_id AS child, run_id FROM {db}.ledger WHERE kind = 'run_input'",
    ),
}

# One row per (run, output) with the run resolved: statistics, final status, day, source, region, derivation.
_RUN_OUTPUTS = """
    SELECT dataset_id, run_id,
           tupleElement(s, 1) AS bytes, tupleElement(s, 2) AS records, tupleElement(s, 3) AS suspect,
           tupleElement(f, 1) AS status, tupleElement(f, 2) AS day, tupleElement(f, 3) AS source,
           tupleElement(f, 4) AS region, tupleElement(f, 5) AS derivation, tupleElement(f, 6) AS job,
           first_ms, last_ms, touches
    FROM (SELECT dataset_id, run_id, argMaxIfMerge(stats) AS s, argMaxIfMerge(final) AS f,
                 min(first_ms) AS first_ms, max(last_ms) AS last_ms, groupUniqArrayArray(touches) AS touches
          FROM {db}.lineage_node_runs GROUP BY dataset_id, run_id)"""

LINEAGE_VIEWS: dict[str, str] = {
    "lineage_run_outputs": _RUN_OUTPUTS,
    # Every OpenLineage run once, with the status it ended in (FAIL and ABORT visible, counting nothing).
    "openlineage_runs": """
        SELECT run_id, job, if(tupleElement(f, 1) = '', 'OPEN', tupleElement(f, 1)) AS status, latest,
               tupleElement(f, 2) AS day, tupleElement(f, 3) AS source, tupleElement(f, 4) AS region,
               first_ms, last_ms, rows
        FROM (SELECT run_id, job, argMaxIfMerge(final) AS f, argMaxMerge(latest) AS latest,
                     min(first_ms) AS first_ms, max(last_ms) AS last_ms, sum(rows) AS rows
              FROM {db}.lineage_runs GROUP BY run_id, job)""",
    # Datasets: identity, first and last seen, source and region of their latest counted write, the event kinds.
    "lineage_datasets": """
        SELECT dataset_id, min(first_ms) AS first_seen_ms, max(last_ms) AS last_seen_ms,
               argMaxIf(source, last_ms, status = 'COMPLETE') AS source, argMaxIf(region, last_ms, status = 'COMPLETE') AS region,
               sumIf(bytes, status = 'COMPLETE' AND suspect = 0) AS bytes, countIf(status = 'COMPLETE') AS runs,
               groupUniqArrayArray(touches) AS event_kinds
        FROM {db}.lineage_run_outputs GROUP BY dataset_id""",
    # Edges: parent -> child with the bytes the child received from counted runs that read the parent.
    "lineage_graph_edges": """
        SELECT e.parent AS parent, e.child AS child, min(o.day) AS first_day, max(o.day) AS last_day,
               count() AS runs, sum(o.bytes) AS bytes,
               if(countIf(o.derivation = 'COPY') = count(), 'COPY', 'DERIVED') AS derivation
        FROM (SELECT DISTINCT child, parent, run_id FROM {db}.lineage_edges_up) AS e
        INNER JOIN (SELECT dataset_id, run_id, bytes, day, derivation FROM {db}.lineage_run_outputs
                    WHERE status = 'COMPLETE' AND suspect = 0) AS o
            ON o.dataset_id = e.child AND o.run_id = e.run_id
        GROUP BY parent, child""",
    # Statistics that were not counted because they look wrong (size < rowCount, rowCount without size).
    "lineage_suspect": """
        SELECT dataset_id, run_id, job, day, bytes, records, suspect
        FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE' AND suspect != 0""",
    # The accounts: per year x source x region, unique (ORIGINAL), derived, replicated (COPY) bytes;
    # net new = unique + derived; gross = all three (+ rows written before derivation was recorded);
    # replication ratio = replicated / net new. Native DataCreated volume and OpenLineage runs together.
    "lineage_accounts": """
        SELECT year, source, region,
               sumIf(bytes, derivation = 'ORIGINAL') AS unique_bytes,
               sumIf(bytes, derivation = 'DERIVED') AS derived_bytes,
               sumIf(bytes, derivation = 'COPY') AS replicated_bytes,
               sumIf(bytes, derivation = '') AS unclassified_bytes,
               unique_bytes + derived_bytes AS net_new_bytes,
               sum(bytes) AS gross_bytes,
               if(net_new_bytes = 0, NULL, toFloat64(replicated_bytes) / toFloat64(net_new_bytes)) AS replication_ratio,
               sum(suspect_bytes) AS suspect_bytes
        FROM (
            SELECT toYear(day) AS year, toString(source) AS source, toString(region) AS region, toString(derivation) AS derivation,
                   bytes, toUInt256(0) AS suspect_bytes
            FROM {db}.ledger WHERE kind = 'volume'
            UNION ALL
            SELECT toYear(day), source, region, derivation, if(suspect = 0, bytes, toUInt256(0)), if(suspect = 0, toUInt256(0), bytes)
            FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE'
        )
        GROUP BY year, source, region""",
}


def graph_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Graph tables, backfilled from the ledger, then the views that keep them current, then the read views.

    Like the rollups: run before any worker writes; TRUNCATE then INSERT so a step run again rebuilds."""
    db, on = _q(database), _on(cluster)
    out: list[str] = []
    for name, (columns, engine, order, select) in GRAPH_TABLES.items():
        out.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{_q(name)}{on} ({columns}) "
            f"ENGINE = {_engine(name, database, cluster, engine)} ORDER BY ({order})"
        )
        out.append(f"TRUNCATE TABLE IF EXISTS {db}.{_q(name)}{on}")
        out.append(f"INSERT INTO {db}.{_q(name)} {select.format(db=db)}")
        out.append(
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{_q('mv_' + name)}{on} TO {db}.{_q(name)} AS {select.format(db=db)}"
        )
    for view, sql in LINEAGE_VIEWS.items():
        out.append(f"CREATE OR REPLACE VIEW {db}.{_q(view)}{on} AS {sql.format(db=db).strip()}")
    return tuple(out)


def drop_graph_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Drop the graph's materialised views (so a rebuild starts clean); the tables are rebuilt by ``graph_statements``."""
    db, on = _q(database), _on(cluster)
    return tuple(f"DROP VIEW IF EXISTS {db}.{_q('mv_' + name)}{on}" for name in GRAPH_TABLES)


def lineage_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Migration 4 ("lineage: OpenLineage runs, the graph and its accounts"): the ledger's new kinds and
    columns, then the graph tables and views."""
    return (*ledger_columns_statements(database, cluster), *graph_statements(database, cluster))
