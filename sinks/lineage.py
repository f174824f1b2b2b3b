"""The lineage graph in ClickHouse: ledger rows for OpenLineage runs and native datasets, two projections, the accounts.

**Rows.** OpenLineage facts are written into the ledger, in the same insert as the
flush's segment rows, so they are exactly as durable as native figures and covered by
the same offsets (the ledger owns them). Kinds (``sinks.ledger.Kind``):

- ``run``: one run and one of its outputs (``dataset_id``; ``''`` for a run without
  outputs) at one moment: ``status`` (START ... COMPLETE/FAIL/ABORT), statistics
  (``bytes``, ``records``, ``has_stats``, ``suspect``), ``derivation``, ``source``,
  ``region``, ``job``, the version ``(event_time_ms, kafka_partition, offset_to)``
  of the event it came from, and ``no_inputs`` (migration 11: its flush wrote no
  ``run_input`` row for this run and output; 0 claims nothing);
- ``run_input``: ``parent_id`` was read by the run that wrote ``dataset_id``;
- ``touch``: a DatasetEvent (``status='DATASET'``) or JobEvent (``'JOB'``) named the dataset;
- ``output``: native DataCreated bytes per (dataset, day, source, region, derivation), the
  native side of a node (``lineage`` rows, one per parent -> child per flush, are its edges).

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
summed over the events of a run: sums run over distinct (run, output) pairs.

**Crash safety: projections, not tables fed by materialised views.** The graph is read
from the ledger itself, through two projections stored inside each ledger part
(``lineage_by_dataset`` ordered by dataset, ``lineage_by_parent`` ordered by parent), so
a flush lands with its graph or not at all, as the rollups do (issue 9: a view writes its
own part after the ledger's, and a ``kill -9`` between the two left it short). A part
without the projection (written before it, or before ``MATERIALIZE`` reached it) is read
from its rows: every answer is exact in every state; the projection only makes it fast.

Pure: statements are built here and tested on chDB; nothing is executed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from zettaledger.sinks.engines import on_cluster
from zettaledger.sinks.identifiers import qualified, quote_identifier
from zettaledger.sinks.ledger import COLUMNS, Kind

__all__ = [
    "LINEAGE_PROJECTIONS",
    "LINEAGE_VIEWS",
    "TERMINAL",
    "VERSION",
    "VERSION_KEY",
    "LineageProjection",
    "kind_enum",
    "ledger_columns_statements",
    "lineage_statements",
    "run_resolution",
]

VERSION = "tuple(event_time_ms, kafka_partition, offset_to)"
TERMINAL = "status IN ('COMPLETE', 'FAIL', 'ABORT')"
# Appended to the ledger by this migration (the tail of sinks.ledger.COLUMNS).
_ADDED = ("run_id", "status", "job", "has_stats", "suspect")


def kind_enum() -> str:
    return "Enum8(" + ", ".join(f"'{k.value}' = {i}" for i, k in enumerate(Kind, 1)) + ")"


@dataclass(frozen=True)
class LineageProjection:
    """A projection of the ledger: ``columns`` ordered by ``order``; declared once, rendered for add/drop/materialise."""

    name: str
    columns: tuple[str, ...]
    order: tuple[str, ...]

    def add(self, database: str, cluster: str | None = None) -> str:
        return (
            f"ALTER TABLE {qualified(database, 'ledger')}{on_cluster(cluster)} ADD PROJECTION IF NOT EXISTS "
            f"{quote_identifier(self.name)} (SELECT {', '.join(self.columns)} ORDER BY ({', '.join(self.order)}))"
        )

    def drop(self, database: str, cluster: str | None = None) -> str:
        return (
            f"ALTER TABLE {qualified(database, 'ledger')}{on_cluster(cluster)} DROP PROJECTION IF EXISTS "
            f"{quote_identifier(self.name)}"
        )

    def materialize(self, database: str, cluster: str | None = None) -> str:
        return (
            f"ALTER TABLE {qualified(database, 'ledger')}{on_cluster(cluster)} MATERIALIZE PROJECTION "
            f"{quote_identifier(self.name)} SETTINGS mutations_sync = 2"
        )


_NODE_COLUMNS = (
    "kind",
    "dataset_id",
    "parent_id",
    "run_id",
    "status",
    "has_stats",
    "suspect",
    "bytes",
    "derivation",
    "day",
    "source",
    "event_time_ms",
    "kafka_partition",
    "offset_to",
)

LINEAGE_PROJECTIONS: tuple[LineageProjection, ...] = (
    # Upstream walks, node bytes and run resolution: every row of a dataset, its runs and its inputs together.
    LineageProjection("lineage_by_dataset", _NODE_COLUMNS, ("dataset_id", "kind", "run_id")),
    # Downstream walks: the children of a parent.
    LineageProjection("lineage_by_parent", ("kind", "parent_id", "dataset_id", "run_id"), ("parent_id", "kind", "dataset_id")),
)


def ledger_columns_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """ALTERs that give an existing ledger the new kinds and columns (metadata only, no rewrite).

    The rollup projections group by ``kind``, and ClickHouse refuses to alter a column a
    projection uses: they are dropped first and built again after (the views read the
    rows meanwhile, so they stay exact).
    """
    from zettaledger.sinks.rollups import ROLLUPS

    db, on = quote_identifier(database), on_cluster(cluster)
    out = [rollup.drop_projection(database, cluster) for rollup in ROLLUPS]
    out += [p.drop(database, cluster) for p in LINEAGE_PROJECTIONS]
    out.append(f"ALTER TABLE {db}.ledger{on} MODIFY COLUMN IF EXISTS `kind` {kind_enum()}")
    added = {c.name: c for c in COLUMNS if c.name in _ADDED}
    out += [f"ALTER TABLE {db}.ledger{on} ADD COLUMN IF NOT EXISTS {quote_identifier(n)} {added[n].sql_type}" for n in _ADDED]
    for rollup in ROLLUPS:
        out += [rollup.add_projection(database, cluster), rollup.materialize(database, cluster)]
    return tuple(out)


# The version as one UInt256 ordered exactly as the tuple VERSION: the event time with its sign bit
# flipped (so negative times order first), then the partition, then the offset, in disjoint bits.
# ClickHouse compares a number in native code and a tuple through a generic path: resolving the
# runs of a large graph (1e6 runs) takes ~0.35 s CPU instead of ~1 s.
VERSION_KEY = (
    "bitOr(bitOr(bitShiftLeft(toUInt256(bitXor(reinterpretAsUInt64(event_time_ms), toUInt64(9223372036854775808))), 96), "
    "bitShiftLeft(toUInt256(kafka_partition), 64)), toUInt256(offset_to))"
)


def run_resolution(runs: str) -> str:
    """The aggregates that resolve a (dataset, run) group by the rule above, over the group's rows that
    ``runs`` selects (its ``run`` rows, when a query reads other kinds in the same pass): ``r_bytes``,
    ``r_suspect``, ``r_status`` ('' without a terminal row), ``r_day``, ``r_source``, ``r_derivation``.
    The one home of the rule for queries (the views spell it with VERSION; a test holds the two equal).
    Each column is its own argMax over the same version: rows of equal version are copies of one
    event, so the columns come from one row."""
    stats = f"{VERSION_KEY}, {runs} AND has_stats = 1"
    final = f"{VERSION_KEY}, {runs} AND {TERMINAL}"
    return (
        f"argMaxIf(bytes, {stats}) AS r_bytes, argMaxIf(suspect, {stats}) AS r_suspect, "
        f"toString(argMaxIf(status, {final})) AS r_status, argMaxIf(day, {final}) AS r_day, "
        f"toString(argMaxIf(source, {final})) AS r_source, toString(argMaxIf(derivation, {final})) AS r_derivation"
    )


# The same rule with every column, for the views (they read the ledger's ``run`` range).
_RUN_OUTPUTS = f"""
    SELECT dataset_id, run_id,
           tupleElement(s, 1) AS bytes, tupleElement(s, 2) AS records, tupleElement(s, 3) AS suspect,
           tupleElement(f, 1) AS status, tupleElement(f, 2) AS day, tupleElement(f, 3) AS source,
           tupleElement(f, 4) AS region, tupleElement(f, 5) AS derivation, tupleElement(f, 6) AS job,
           first_ms, last_ms
    FROM (SELECT dataset_id, run_id,
                 argMaxIf(tuple(bytes, records, suspect), {VERSION}, has_stats = 1) AS s,
                 argMaxIf(tuple(toString(status), day, toString(source), toString(region), toString(derivation), job),
                          {VERSION}, {TERMINAL}) AS f,
                 min(event_time_ms) AS first_ms, max(event_time_ms) AS last_ms
          FROM {{db}}.ledger WHERE kind = 'run' AND dataset_id != '' GROUP BY dataset_id, run_id)"""

LINEAGE_VIEWS: dict[str, str] = {
    "lineage_run_outputs": _RUN_OUTPUTS,
    # Every OpenLineage run once, with the status it ended in (FAIL and ABORT visible, counting nothing).
    "openlineage_runs": f"""
        SELECT run_id, job, if(tupleElement(f, 1) = '', 'OPEN', tupleElement(f, 1)) AS status, latest,
               tupleElement(f, 2) AS day, tupleElement(f, 3) AS source, tupleElement(f, 4) AS region,
               first_ms, last_ms, rows
        FROM (SELECT run_id, any(job) AS job, argMax(toString(status), {VERSION}) AS latest,
                     argMaxIf(tuple(toString(status), day, toString(source), toString(region)), {VERSION}, {TERMINAL}) AS f,
                     min(event_time_ms) AS first_ms, max(event_time_ms) AS last_ms, count() AS rows
              FROM {{db}}.ledger WHERE kind = 'run' GROUP BY run_id)""",
    # Datasets: OpenLineage runs and native DataCreated bytes together; first and last seen, the latest source.
    "lineage_datasets": """
        SELECT dataset_id, min(first_ms) AS first_seen_ms, max(last_ms) AS last_seen_ms,
               argMax(source, last_ms) AS source, sum(bytes) AS bytes, sum(runs) AS runs, sum(native_events) AS native_events
        FROM (
            SELECT dataset_id, first_ms, last_ms, source, if(suspect = 0, bytes, toUInt256(0)) AS bytes,
                   toUInt64(1) AS runs, toUInt64(0) AS native_events
            FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE'
            UNION ALL
            SELECT dataset_id, toInt64(toUnixTimestamp(toDateTime(day))) * 1000, toInt64(toUnixTimestamp(toDateTime(day))) * 1000,
                   toString(source), bytes, toUInt64(0), events
            FROM {db}.ledger WHERE kind = 'output'
            UNION ALL
            SELECT dataset_id, event_time_ms, event_time_ms, '', toUInt256(0), toUInt64(0), toUInt64(0)
            FROM {db}.ledger WHERE kind = 'touch'
        ) GROUP BY dataset_id""",
    # Edges: parent -> child with the bytes the child received (OpenLineage: counted runs that read the
    # parent, suspect statistics counting 0 as everywhere; native: DataCreated events that named it),
    # COPY when every such run copied.
    "lineage_graph_edges": """
        SELECT parent, child, min(day) AS first_day, max(day) AS last_day, sum(n) AS runs_or_events, sum(b) AS bytes,
               if(countIf(d = 'COPY') = count(), 'COPY', 'DERIVED') AS derivation
        FROM (
            SELECT e.parent_id AS parent, e.dataset_id AS child, o.day AS day, toUInt64(1) AS n,
                   if(o.suspect = 0, o.bytes, toUInt256(0)) AS b, o.derivation AS d
            FROM (SELECT DISTINCT parent_id, dataset_id, run_id FROM {db}.ledger WHERE kind = 'run_input') AS e
            INNER JOIN (SELECT * FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE') AS o
                ON o.dataset_id = e.dataset_id AND o.run_id = e.run_id
            UNION ALL
            SELECT parent_id, dataset_id, day, events, bytes, 'DERIVED' FROM {db}.ledger WHERE kind = 'lineage'
        ) GROUP BY parent, child""",
    # Statistics that were not counted because they look wrong (size < rowCount, rowCount without size).
    "lineage_suspect": """
        SELECT dataset_id, run_id, job, day, bytes, records, suspect
        FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE' AND suspect != 0""",
    # The accounts: per year x source x region, unique (ORIGINAL), derived, replicated (COPY) bytes;
    # net new = unique + derived; gross = all (+ rows written before derivation was recorded);
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
            -- summed by day first: the rollup_created_by_derivation projection answers it, not every volume row
            FROM (SELECT day, source, region, derivation, sum(bytes) AS bytes FROM {db}.ledger WHERE kind = 'volume'
                  GROUP BY day, source, region, derivation)
            UNION ALL
            SELECT toYear(day), source, region, derivation, if(suspect = 0, bytes, toUInt256(0)), if(suspect = 0, toUInt256(0), bytes)
            FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE'
        )
        GROUP BY year, source, region""",
    # The direct parents of each year's derived and copied bytes (one step of the attribution; ``zl lineage
    # roots`` follows them through every level to the roots, exactly, with largest-remainder shares).
    "lineage_roots": """
        SELECT toYear(o.day) AS year, o.source AS source, e.parent AS parent, o.dataset_id AS child, o.bytes AS child_bytes
        FROM (
            SELECT dataset_id, day, source, bytes FROM {db}.lineage_run_outputs
            WHERE status = 'COMPLETE' AND suspect = 0 AND derivation IN ('DERIVED', 'COPY')
            UNION ALL
            SELECT dataset_id, day, toString(source), bytes FROM {db}.ledger WHERE kind = 'output' AND derivation IN ('DERIVED', 'COPY')
        ) AS o
        INNER JOIN (SELECT DISTINCT parent_id AS parent, dataset_id AS child FROM {db}.ledger WHERE kind IN ('run_input', 'lineage')) AS e
            ON e.child = o.dataset_id""",
}


def lineage_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Migration 8: the ledger's new kinds and columns, the graph's projections (materialised over the parts
    already there), then the views. Every statement is idempotent, so a step interrupted half-way runs again."""
    out = list(ledger_columns_statements(database, cluster))
    for p in LINEAGE_PROJECTIONS:
        out += [p.add(database, cluster), p.materialize(database, cluster)]
    out += [view_statement(v, database, cluster) for v in LINEAGE_VIEWS]
    return tuple(out)


def view_statement(name: str, database: str, cluster: str | None = None) -> str:
    """``CREATE OR REPLACE VIEW`` for the lineage view ``name``, as ``LINEAGE_VIEWS`` declares it now."""
    db = quote_identifier(database)
    return f"CREATE OR REPLACE VIEW {db}.{quote_identifier(name)}{on_cluster(cluster)} AS {LINEAGE_VIEWS[name].format(db=db).strip()}"
