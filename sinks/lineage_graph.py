"""The lineage graph as ``sinks.lineage_queries`` asks for it, answered from the ledger.

One query per level of a walk, on the ledger's lineage projections (``sinks.lineage``):
``lineage_by_dataset`` (ordered by dataset) holds a dataset's runs, run inputs, native
edges and native bytes together, so an upstream level reads only the granules of its
frontier, and resolves the frontier's runs there (the argMax rule, ``resolved_runs``);
``lineage_by_parent`` (ordered by parent) finds a downstream level's children, whose edges
are then read as an upstream level restricted to those parents. No table is fed by a
materialised view, so nothing here can be short of the ledger after a crash.

Node bytes: the counted bytes of a dataset's OpenLineage runs (COMPLETE, not suspect) plus
its native DataCreated bytes. Edge bytes: what the child received from counted runs that read
the parent, plus the bytes of native events that named it.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import Reader, wrap
from zettaledger.sinks.identifiers import check_identifier, quote_identifier
from zettaledger.sinks.lineage import resolved_runs
from zettaledger.sinks.lineage_queries import Edge

__all__ = ["ClickHouseGraph"]

_CHUNK = 50_000  # ids per IN list: a frontier larger than this is asked in pieces
_IDS = "dataset_id IN {ids:Array(String)}"
_REGISTERED_VERSION = "tuple(event_time_ms, kafka_partition, offset_to)"  # as the datasets_current view


class ClickHouseGraph:
    def __init__(self, client: Reader, database: str) -> None:
        check_identifier(database)
        self._client = client
        self._db = quote_identifier(database)

    def _query(self, sql: str, what: str, **parameters: object) -> list[tuple[object, ...]]:
        try:
            return [tuple(r) for r in self._client.query(sql, parameters=parameters).result_rows]
        except (DatabaseError, OperationalError) as exc:
            raise wrap(exc, what) from exc

    def _rows(self, sql: str, ids: Sequence[str], what: str) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for i in range(0, len(ids), _CHUNK):
            out.extend(self._query(sql, what, ids=list(ids[i : i + _CHUNK])))
        return out

    def _edges_into(self, ids: Sequence[str], parents: Sequence[str] | None = None) -> list[Edge]:
        db = self._db
        only = " AND parent_id IN {parents:Array(String)}" if parents is not None else ""
        sql = f"""
            SELECT parent, child, sum(b), if(countIf(d = 'COPY') = count(), 'COPY', 'DERIVED') FROM (
                SELECT e.parent_id AS parent, e.dataset_id AS child, o.bytes AS b, o.derivation AS d
                FROM (SELECT DISTINCT parent_id, dataset_id, run_id FROM {db}.ledger
                      WHERE kind = 'run_input' AND {_IDS}{only}) AS e
                INNER JOIN ({resolved_runs(db, _IDS)}) AS o ON o.dataset_id = e.dataset_id AND o.run_id = e.run_id
                WHERE o.status = 'COMPLETE'
                UNION ALL
                SELECT parent_id, dataset_id, bytes, 'DERIVED' FROM {db}.ledger WHERE kind = 'lineage' AND {_IDS}{only}
            ) GROUP BY parent, child"""
        out: list[Edge] = []
        for i in range(0, len(ids), _CHUNK):
            params: dict[str, object] = {"ids": list(ids[i : i + _CHUNK])}
            if parents is not None:
                params["parents"] = list(parents)
            rows = self._query(sql, "lineage edges query", **params)
            out.extend(Edge(str(p), str(c), int(b), str(d)) for p, c, b, d in rows)  # type: ignore[call-overload]
        return out

    def parents(self, ids: Sequence[str]) -> list[Edge]:
        return self._edges_into(ids)

    def children(self, ids: Sequence[str]) -> list[Edge]:
        out: list[Edge] = []
        for i in range(0, len(ids), _CHUNK):
            chunk = list(ids[i : i + _CHUNK])
            kids = self._query(
                f"SELECT DISTINCT dataset_id FROM {self._db}.ledger "
                "WHERE kind IN ('run_input', 'lineage') AND parent_id IN {ids:Array(String)}",
                "lineage children query",
                ids=chunk,
            )
            if kids:
                out.extend(self._edges_into(sorted(str(k[0]) for k in kids), chunk))
        return out

    def node_bytes(self, ids: Sequence[str]) -> dict[str, int]:
        db = self._db
        rows = self._rows(
            f"""SELECT dataset_id, sum(b) FROM (
                    SELECT dataset_id, bytes AS b FROM ({resolved_runs(db, _IDS)}) WHERE status = 'COMPLETE'
                    UNION ALL
                    SELECT dataset_id, bytes FROM {db}.ledger WHERE kind = 'output' AND {_IDS}
                ) GROUP BY dataset_id""",
            ids,
            "lineage node bytes query",
        )
        return {str(i): int(b) for i, b in rows}  # type: ignore[call-overload]

    def sources(self, ids: Sequence[str]) -> dict[str, str]:
        """The source a dataset's bytes were counted under (the one with the most bytes; ties to the first name);
        for a dataset with no bytes counted, ``HIGH_QUALITY`` when it is registered as a high-quality dataset,
        ``REGISTERED`` when it is registered otherwise (absent: unknown)."""
        found = self._counted_sources(ids)
        rest = [i for i in ids if i not in found]
        if rest:
            rows = self._rows(
                f"""SELECT dataset_id, if(argMax(toString(quality_grade), {_REGISTERED_VERSION}) = 'HIGH', 'HIGH_QUALITY', 'REGISTERED')
                    FROM {self._db}.ledger WHERE kind = 'dataset' AND {_IDS} GROUP BY dataset_id""",
                rest,
                "lineage registered sources query",
            )
            found.update({str(i): str(s) for i, s in rows})
        return found

    def _counted_sources(self, ids: Sequence[str]) -> dict[str, str]:
        db = self._db
        rows = self._rows(
            f"""SELECT dataset_id, argMax(source, tuple(b, source)) FROM (
                    SELECT dataset_id, source, sum(b) AS b FROM (
                        SELECT dataset_id, source, bytes AS b FROM ({resolved_runs(db, _IDS)}) WHERE status = 'COMPLETE'
                        UNION ALL
                        SELECT dataset_id, toString(source), bytes FROM {db}.ledger WHERE kind = 'output' AND {_IDS}
                    ) GROUP BY dataset_id, source
                ) GROUP BY dataset_id""",
            ids,
            "lineage sources query",
        )
        return {str(i): str(s) for i, s in rows}

    def seeds(self, year: int, source: str | None) -> dict[str, int]:
        """The year's DERIVED and COPY bytes per dataset (of ``source`` when given).

        A run counts in the day of its last terminal row, which is then a COMPLETE row of that
        year: only runs with such a row are resolved (exact, and it keeps the query to one year)."""
        db = self._db
        by_source = "AND source = {source:String}" if source else ""
        year_days = "day >= makeDate({year:UInt16}, 1, 1) AND day < makeDate({year:UInt16} + 1, 1, 1)"
        runs = f"run_id IN (SELECT run_id FROM {db}.ledger WHERE kind = 'run' AND status = 'COMPLETE' AND {year_days})"
        rows = self._query(
            f"""SELECT dataset_id, sum(b) FROM (
                    SELECT dataset_id, bytes AS b FROM ({resolved_runs(db, runs)})
                    WHERE status = 'COMPLETE' AND derivation IN ('DERIVED', 'COPY') AND {year_days} {by_source}
                    UNION ALL
                    SELECT dataset_id, bytes FROM {db}.ledger
                    WHERE kind = 'output' AND derivation IN ('DERIVED', 'COPY') AND {year_days} {by_source}
                ) GROUP BY dataset_id HAVING sum(b) > 0""",
            "lineage seeds query",
            year=year,
            source=source or "",
        )
        return {str(i): int(b) for i, b in rows}  # type: ignore[call-overload]
