"""The lineage graph as ``sinks.lineage_queries`` asks for it, answered from ClickHouse.

One query per level of a walk. Upstream reads ``lineage_edges_up`` (ordered by child)
and downstream ``lineage_edges_down`` (ordered by parent), each restricted by ``IN`` on
its first key, so a level reads only the granules of its frontier. The bytes of an edge
come from ``lineage_node_runs`` (ordered by dataset), resolved per (dataset, run) with the
same argMax rule as the accounts, restricted to the children of the level.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import wrap
from zettaledger.sinks.identifiers import quote_identifier
from zettaledger.sinks.lineage_queries import Edge

__all__ = ["ClickHouseGraph"]

_CHUNK = 50_000  # ids per IN list: a frontier larger than this is asked in pieces


def _resolved(db: str, where: str) -> str:
    """Counted (run, output) pairs of the datasets ``where`` selects: bytes (0 when suspect) and derivation."""
    return f"""
        SELECT dataset_id, run_id, if(tupleElement(s, 3) = 0, tupleElement(s, 1), toUInt256(0)) AS bytes,
               tupleElement(f, 5) AS derivation
        FROM (SELECT dataset_id, run_id, argMaxIfMerge(stats) AS s, argMaxIfMerge(final) AS f
              FROM {db}.lineage_node_runs WHERE {where} GROUP BY dataset_id, run_id)
        WHERE tupleElement(f, 1) = 'COMPLETE'"""


class ClickHouseGraph:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = quote_identifier(database)

    def _rows(self, sql: str, ids: Sequence[str], **more: object) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for i in range(0, len(ids), _CHUNK):
            try:
                result = self._client.query(sql, parameters={"ids": list(ids[i : i + _CHUNK]), **more})
            except (DatabaseError, OperationalError) as exc:
                raise wrap(exc, "lineage query") from exc
            out.extend(tuple(r) for r in result.result_rows)
        return out

    def _edges(self, sql: str, ids: Sequence[str]) -> list[Edge]:
        return [Edge(str(p), str(c), int(b), str(d)) for p, c, b, d in self._rows(sql, ids)]  # type: ignore[call-overload]

    def parents(self, ids: Sequence[str]) -> list[Edge]:
        db = self._db
        return self._edges(
            f"""SELECT e.parent, e.child, sum(o.bytes), if(countIf(o.derivation = 'COPY') = count(), 'COPY', 'DERIVED')
                FROM (SELECT DISTINCT child, parent, run_id FROM {db}.lineage_edges_up WHERE child IN {{ids:Array(String)}}) AS e
                INNER JOIN ({_resolved(db, "dataset_id IN {ids:Array(String)}")}) AS o
                    ON o.dataset_id = e.child AND o.run_id = e.run_id
                GROUP BY e.parent, e.child""",
            ids,
        )

    def children(self, ids: Sequence[str]) -> list[Edge]:
        db = self._db
        return self._edges(
            f"""SELECT e.parent, e.child, sum(o.bytes), if(countIf(o.derivation = 'COPY') = count(), 'COPY', 'DERIVED')
                FROM (SELECT DISTINCT parent, child, run_id FROM {db}.lineage_edges_down WHERE parent IN {{ids:Array(String)}}) AS e
                INNER JOIN ({_resolved(db, f"dataset_id IN (SELECT child FROM {db}.lineage_edges_down WHERE parent IN {{ids:Array(String)}})")}) AS o
                    ON o.dataset_id = e.child AND o.run_id = e.run_id
                GROUP BY e.parent, e.child""",
            ids,
        )

    def node_bytes(self, ids: Sequence[str]) -> dict[str, int]:
        rows = self._rows(
            f"SELECT dataset_id, sum(bytes) FROM ({_resolved(self._db, 'dataset_id IN {ids:Array(String)}')}) GROUP BY dataset_id",
            ids,
        )
        return {str(i): int(b) for i, b in rows}  # type: ignore[call-overload]

    def sources(self, ids: Sequence[str]) -> dict[str, str]:
        rows = self._rows(
            f"""SELECT dataset_id, argMax(tupleElement(f, 3), last) FROM (
                    SELECT dataset_id, run_id, argMaxIfMerge(final) AS f, max(last_ms) AS last
                    FROM {self._db}.lineage_node_runs WHERE dataset_id IN {{ids:Array(String)}} GROUP BY dataset_id, run_id)
                WHERE tupleElement(f, 1) = 'COMPLETE' GROUP BY dataset_id""",
            ids,
        )
        return {str(i): str(s) for i, s in rows}

    def seeds(self, year: int, source: str | None) -> dict[str, int]:
        where = "AND source = {source:String}" if source else ""
        try:
            rows = self._client.query(
                f"""SELECT dataset_id, sum(bytes) FROM {self._db}.lineage_run_outputs
                    WHERE status = 'COMPLETE' AND suspect = 0 AND derivation IN ('DERIVED', 'COPY')
                      AND toYear(day) = {{year:UInt16}} {where}
                    GROUP BY dataset_id""",
                parameters={"year": year, "source": source or ""},
            ).result_rows
        except (DatabaseError, OperationalError) as exc:
            raise wrap(exc, "lineage seeds query") from exc
        return {str(i): int(b) for i, b in rows}
