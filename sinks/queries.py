"""The statistician's questions, asked of the ready views. Returns plain values, not SQL results."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from zettaledger.sinks.client import Reader
from zettaledger.sinks.identifiers import quote_identifier

__all__ = [
    "CollectionFigures",
    "LineageAccounts",
    "LineageSummary",
    "NationalAccounts",
    "lineage_summary",
    "read_lineage_accounts",
    "read_national_accounts",
]


@dataclass(frozen=True)
class CollectionFigures:
    pipeline_id: str
    runs: int
    attempted_captures: int
    usable_captures: int
    attempted_bytes: int
    usable_bytes: int


@dataclass(frozen=True)
class LineageSummary:
    edges: int
    derived_datasets: int
    root_datasets: int
    max_depth: int
    derived_bytes: int


@dataclass(frozen=True)
class LineageAccounts:
    """One year's lineage accounts (the ``lineage_accounts`` view summed over sources and regions), and where
    that year's AI inference data comes from (``zl lineage roots --source INFERENCE``, by root source)."""

    year: int
    unique: int  # ORIGINAL: created or captured
    derived: int  # DERIVED: computed from parents, new information
    replicated: int  # COPY: the same information again
    unclassified: int  # written before derivation was recorded
    inference_roots: tuple[tuple[str, int], ...] = ()  # (root source, bytes), largest first
    inference_bytes: int = 0  # what was attributed: the sum of inference_roots plus unresolved
    partial: bool = False

    @property
    def net_new(self) -> int:
        return self.unique + self.derived

    @property
    def gross(self) -> int:
        return self.unique + self.derived + self.replicated + self.unclassified


@dataclass(frozen=True)
class NationalAccounts:
    created: dict[tuple[int, str], tuple[int, int]]  # (year, source) -> (bytes, records)
    tokens_by_day: dict[dt.date, int]
    high_quality_datasets: int
    high_quality_bytes: int
    registered_datasets: int
    collection: list[CollectionFigures]
    lineage: LineageSummary
    events_counted: int
    duplicates_dropped: int
    dead_lettered: int
    flushes: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    lineage_accounts: LineageAccounts | None = None  # None: no classified bytes (the section is not printed)

    def created_total(self, year: int) -> int:
        return sum(b for (y, _), (b, _) in self.created.items() if y == year)

    def created_by(self, year: int, source: str) -> int:
        return self.created.get((year, source), (0, 0))[0]

    def tokens_month_average(self, year: int, month: int) -> tuple[int, int]:
        """Total tokens in the month and the number of days with data."""
        days = [t for d, t in self.tokens_by_day.items() if d.year == year and d.month == month]
        return sum(days), len(days)


def lineage_summary(edges: list[tuple[str, str, int]], derived_bytes: int) -> LineageSummary:
    """Depth is the longest parent chain, in edges; computed here because ClickHouse has no recursion."""
    children: dict[str, list[str]] = defaultdict(list)
    indegree: dict[str, int] = defaultdict(int)
    nodes: set[str] = set()
    for parent, child, _ in edges:
        children[parent].append(child)
        indegree[child] += 1
        nodes.update((parent, child))
    roots = [n for n in nodes if indegree[n] == 0]
    depth: dict[str, int] = {n: 0 for n in roots}
    queue = deque(roots)
    remaining = dict(indegree)
    while queue:  # Kahn's order: a node's depth is final when all its parents are done
        node = queue.popleft()
        for child in children[node]:
            depth[child] = max(depth.get(child, 0), depth[node] + 1)
            remaining[child] -= 1
            if remaining[child] == 0:
                queue.append(child)
    return LineageSummary(
        edges=len(edges),
        derived_datasets=sum(1 for n in nodes if indegree[n] > 0),
        root_datasets=len(roots),
        max_depth=max(depth.values(), default=0),
        derived_bytes=derived_bytes,
    )


def read_national_accounts(client: Reader, database: str) -> NationalAccounts:
    db = quote_identifier(database)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in client.query(sql.replace("{db}", db)).result_rows]

    created = {
        (int(y), str(s)): (int(b), int(r))
        for y, s, b, r in rows("SELECT year, source, bytes, records FROM {db}.data_created_by_year")
    }
    tokens = {d: int(t) for d, t in rows("SELECT day, tokens FROM {db}.tokens_daily") if isinstance(d, dt.date)}
    hq_count, hq_bytes = rows("SELECT datasets, bytes FROM {db}.high_quality_datasets")[0]
    (registered,) = rows("SELECT count() FROM {db}.datasets_current")[0]
    collection = [
        CollectionFigures(str(p), int(n), int(ac), int(uc), int(ab), int(ub))
        for p, n, ac, uc, ab, ub in rows(
            "SELECT pipeline_id, runs, attempted_captures, usable_captures, attempted_bytes, usable_bytes "
            "FROM {db}.collection_efficiency ORDER BY pipeline_id"
        )
    ]
    edges = [(str(p), str(c), int(b)) for p, c, b in rows("SELECT parent_id, child_id, bytes FROM {db}.lineage_edges")]
    # Bytes created from parents, once per event whatever its number of parents (an edge's bytes
    # repeat the child's bytes for each parent, so summing edges would count them again).
    ((derived,),) = rows("SELECT sum(bytes) FROM {db}.ledger WHERE kind = 'volume' AND derivation IN ('DERIVED', 'COPY')")
    events, duplicates, rejected, flushes = rows(
        "SELECT sum(events), sum(duplicates), sum(rejected), sum(flushes) FROM {db}.ingest_progress"
    )[0]
    rejections = {f"{t} {r}": int(n) for t, r, n in rows("SELECT event_type, reason, events FROM {db}.rejections")}
    return NationalAccounts(
        created=created,
        tokens_by_day=tokens,
        high_quality_datasets=int(hq_count),
        high_quality_bytes=int(hq_bytes),
        registered_datasets=int(registered),
        collection=collection,
        lineage=lineage_summary(edges, int(derived)),
        events_counted=int(events),
        duplicates_dropped=int(duplicates),
        dead_lettered=int(rejected),
        flushes=int(flushes),
        rejections=rejections,
        lineage_accounts=read_lineage_accounts(client, database),
    )


def read_lineage_accounts(client: Reader, database: str) -> LineageAccounts | None:
    """The latest year with classified bytes, or None when the ledger has none (as before lineage was counted)."""
    from zettaledger.sinks.lineage_graph import ClickHouseGraph
    from zettaledger.sinks.lineage_queries import attribute

    db = quote_identifier(database)
    rows = client.query(
        f"""SELECT year, sum(unique_bytes), sum(derived_bytes), sum(replicated_bytes), sum(unclassified_bytes)
            FROM {db}.lineage_accounts GROUP BY year
            HAVING sum(unique_bytes) + sum(derived_bytes) + sum(replicated_bytes) > 0 ORDER BY year DESC LIMIT 1"""
    ).result_rows
    if not rows:
        return None
    year, unique, derived, replicated, unclassified = (int(v) for v in rows[0])
    roots = attribute(ClickHouseGraph(client, database), year, "INFERENCE")
    return LineageAccounts(
        year,
        unique,
        derived,
        replicated,
        unclassified,
        tuple(roots.by_source().items()),
        roots.total_bytes,
        roots.partial,
    )
