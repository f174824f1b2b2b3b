"""The lineage graph as ``sinks.lineage_queries`` asks for it: one query per question, read from the ledger.

**One query, the walk inside it.** A walk or an attribution is one recursive query
(``WITH RECURSIVE``): each step reads the edges of one level's datasets and computes the next
level with the walks' rule (new datasets in id order while the budget lasts, up to the depth),
so the frontier never travels between Python and ClickHouse. Before, every level was a round
trip whose ids were bound into the query text in Python (~1 µs a character: 4 s of an
attribution's 11) and every edge came back as a Python object. The answer is still decided
in Python by the rules of ``lineage_queries``/``lineage_arrays``: the query only has to fetch
the edges of every dataset those rules reach, and it does, because it follows the same rule.

**What a level reads.** Edges come from the ledger's rows: ``run_input`` rows of runs whose
resolution (``sinks.lineage.resolved_runs``) is COMPLETE, and native ``lineage`` rows. A
small level is read through the projections (``lineage_by_dataset`` ordered by dataset,
``lineage_by_parent`` ordered by parent); ClickHouse picks the main table's ``kind`` ranges
when a level is large (an attribution's first level is a sixth of the graph). No table is fed
by a materialised view, so nothing here can be short of the ledger after a crash.

**An attribution's answer travels as arrays.** Its ~250k datasets come back once, as ids in
order; every other mention of a dataset (~2M: edge ends, expanded datasets, nodes, seeds) as its
number in that order, computed in ClickHouse (``arrayEnumerateDense`` over the ids followed by the
mentions) and sent as one string of hex digits. Numbers, not names or hashes, cross: exact
whatever the ids, and nothing left for Python to look up.

Node bytes: the counted bytes of a dataset's OpenLineage runs (COMPLETE, not suspect) plus
its native DataCreated bytes. Edge bytes: what the child received from counted runs that read
the parent, plus the bytes of native events that named it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import Reader, wrap
from zettaledger.sinks.identifiers import check_identifier, quote_identifier
from zettaledger.sinks.lineage import resolved_runs, run_resolution
from zettaledger.sinks.lineage_arrays import Amounts
from zettaledger.sinks.lineage_queries import Ancestry, Direction, Edge, Neighbourhood

__all__ = ["ClickHouseGraph"]

_REGISTERED_VERSION = "tuple(event_time_ms, kafka_partition, offset_to)"  # as the datasets_current view
_FRONTIER = "(SELECT arrayJoin(frontier) FROM w)"  # the level being expanded, inside a step
# Read a dataset's run_input rows where its rows are (lineage_by_dataset) or, for a large level, from the
# main table's kind range; never through lineage_by_parent, which holds every column such a read needs but
# is ordered by parent, so ClickHouse would scan all of it (twice the main table's range, measured).
# has_stats is in lineage_by_dataset and the main table only; comparing it with itself changes no row.
_NOT_BY_PARENT = "has_stats = has_stats"


def _edges_into(db: str, frontier: str) -> str:
    """(child, parent) of the edges into ``frontier``, without bytes: what an attribution's levels need.

    ``run_input`` rows are looked for only for COMPLETE runs that may have inputs, by (dataset, run), through
    ``lineage_by_dataset`` (ordered by dataset): when none may (a level of roots: their runs' rows say
    ``no_inputs``), ClickHouse reads no granule of them, where it read the whole run_input range (5e6 rows of the
    1e6 graph) to find nothing."""
    complete = f"""
        SELECT dataset_id, run_id FROM ({resolved_runs(db, f"dataset_id IN {frontier}")})
        WHERE status = 'COMPLETE' AND may_have_inputs"""
    return f"""
        SELECT dataset_id AS child, parent_id AS parent FROM {db}.ledger
        WHERE kind = 'run_input' AND dataset_id IN {frontier} AND (dataset_id, run_id) IN ({complete}) AND {_NOT_BY_PARENT}
        UNION ALL
        SELECT dataset_id, parent_id FROM {db}.ledger WHERE kind = 'lineage' AND dataset_id IN {frontier}"""


def _walk_step(db: str, direction: Direction, frontier: str) -> str:
    """One read of a level for a walk, as one row: ``far`` (the other ends of the level's edges) and
    ``groups``, the level's rows folded per (dataset, run), for ``_fold``.

    One pass over the rows of the datasets on the child side (all kinds at once): each run resolved
    (``run_resolution``) with its inputs, each dataset's native bytes and native parents. Upstream
    those datasets are the level; downstream, the level's children (and the first level, for its
    bytes), keeping only inputs from the level. Per level nothing but this pass runs: ClickHouse plans
    a step again at every level, and planning, not reading, is most of a small level's cost."""
    if direction == "upstream":
        datasets, keep = frontier, "1"
        far = "arrayDistinct(arrayFlatten(groupArray(arrayConcat(if(complete, inputs, []), arrayMap(e -> tupleElement(e, 1), native)))))"
    else:
        datasets = (
            f"(SELECT dataset_id FROM {db}.ledger WHERE kind IN ('run_input', 'lineage') AND parent_id IN {frontier} "
            "UNION ALL SELECT arrayJoin(frontier) FROM w WHERE lvl = 0)"
        )
        keep = f"parent_id IN {frontier}"
        far = "groupUniqArrayIf(dataset_id, (complete AND notEmpty(inputs)) OR notEmpty(native))"
    return f"""
        SELECT {far} AS far, groupArray(tuple(dataset_id, complete, counted, native_bytes, r_derivation, inputs, native)) AS groups
        FROM (SELECT dataset_id, run_id, {run_resolution("kind = 'run'")}, r_status = 'COMPLETE' AS complete,
                     if(complete AND r_suspect = 0, r_bytes, toUInt256(0)) AS counted,
                     groupUniqArrayIf(parent_id, kind = 'run_input' AND {keep}) AS inputs, sumIf(bytes, kind = 'output') AS native_bytes,
                     groupArrayIf(tuple(parent_id, bytes), kind = 'lineage' AND {keep}) AS native
              FROM {db}.ledger WHERE kind IN ('run', 'run_input', 'output', 'lineage') AND dataset_id IN {datasets}
              GROUP BY dataset_id, run_id)"""


_Group = tuple[str, bool, int, int, str, Sequence[str], Sequence[tuple[str, int]]]


def _fold(levels: Sequence[Sequence[_Group]]) -> tuple[tuple[Edge, ...], dict[str, int]]:
    """A walk's edges and bytes from the groups its levels read: a dataset's bytes are its counted runs' and
    its native bytes (downstream reads a dataset whole at every level that reaches it: the same sum); an
    edge carries what the child received from counted runs that read the parent and from native events that
    named it, and is COPY when every contribution is a copy (the rule of the ``lineage_graph_edges`` view)."""
    node_bytes: dict[str, int] = {}
    received: dict[tuple[str, str], int] = {}
    copies: dict[tuple[str, str], bool] = {}
    for groups in levels:
        read: dict[str, int] = {}
        for dataset, complete, counted, native_bytes, derivation, inputs, native in groups:
            read[dataset] = read.get(dataset, 0) + int(counted) + int(native_bytes)
            runs = [(p, int(counted), derivation == "COPY") for p in inputs] if complete else []
            for parent, b, copy in (*runs, *((p, int(b), False) for p, b in native)):
                key = (parent, dataset)
                received[key] = received.get(key, 0) + b
                copies[key] = copies.get(key, True) and copy
        node_bytes.update(read)
    edges = tuple(Edge(p, c, b, "COPY" if copies[(p, c)] else "DERIVED") for (p, c), b in received.items())
    return edges, node_bytes


def _node_bytes_and_source(db: str, datasets: str) -> str:
    """Per dataset: its counted bytes, and the source they were counted under (the one with the most bytes;
    ties to the last name); for a dataset with no bytes counted, ``HIGH_QUALITY`` when it is registered as a
    high-quality dataset, ``REGISTERED`` when registered otherwise, '' when unknown."""
    counted = f"""
        SELECT dataset_id, source, sum(b) AS sb FROM (
            SELECT dataset_id, source, bytes AS b FROM ({resolved_runs(db, f"dataset_id IN {datasets}")}) WHERE status = 'COMPLETE'
            UNION ALL
            SELECT dataset_id, toString(source), bytes FROM {db}.ledger WHERE kind = 'output' AND dataset_id IN {datasets}
        ) GROUP BY dataset_id, source"""
    registered = f"""
        SELECT dataset_id, toUInt256(0) AS nb, 0 AS counted,
               if(argMax(toString(quality_grade), {_REGISTERED_VERSION}) = 'HIGH', 'HIGH_QUALITY', 'REGISTERED') AS src
        FROM {db}.ledger WHERE kind = 'dataset' AND dataset_id IN {datasets} GROUP BY dataset_id"""
    return f"""
        SELECT dataset_id, sum(nb) AS bytes, argMax(src, counted) AS source FROM (
            SELECT dataset_id, sum(sb) AS nb, 1 AS counted, argMax(source, tuple(sb, source)) AS src FROM ({counted})
            GROUP BY dataset_id
            UNION ALL {registered}
        ) GROUP BY dataset_id"""


@dataclass(frozen=True)
class _Carried:
    """A column of ``w`` besides the walk's own: its type, its value in the first row, and in a step's row
    (an expression over the step's subqueries)."""

    name: str
    type: str
    first: str
    step: str


def _levels(anchor: str, anchor_from: str, depth: int, budget: int, steps: str, carried: Sequence[_Carried]) -> str:
    """``WITH RECURSIVE w``: one row per level with ``frontier`` (its datasets, in id order; the first level is
    ``anchor``, from ``anchor_from``) and ``seen`` (every dataset of the levels so far), by the rule of
    ``lineage_arrays.levels``; ``steps`` are the subqueries joined to each level (``x`` gives ``far``: the far
    ends of the level's edges), ``carried`` what else a row keeps. Every level is expanded, the last
    (``depth``) too: its edges tell what lies beyond the bound."""
    room = f"toUInt64(greatest(0, {int(budget)} - toInt64(length(w.seen))))"
    first = "".join(f", CAST({c.first}, '{c.type}') AS {c.name}" for c in carried)
    then = "".join(f", {c.step}" for c in carried)
    return f"""
        WITH RECURSIVE w AS (
            SELECT toUInt32(0) AS lvl, {anchor} AS frontier, frontier AS seen{first} {anchor_from}
            UNION ALL
            SELECT w.lvl + 1,
                   if(w.lvl < {int(depth)}, arraySlice(arraySort(arrayExcept(x.far, w.seen)), 1, {room}), CAST([], 'Array(String)')) AS nf,
                   arrayConcat(w.seen, nf){then}
            FROM w {steps}
            WHERE length(w.frontier) > 0
        )"""


def _steps_for(depth: int) -> str:
    """ClickHouse stops a recursion after ``max_recursive_cte_evaluation_depth`` (1000) steps, and a walk takes
    up to ``depth + 1``: only a deeper walk asks for more (a setting, which the worker's read-only endpoint
    refuses; the refusal says so)."""
    return f" SETTINGS max_recursive_cte_evaluation_depth = {depth + 2}" if depth + 2 > 1000 else ""


def _seeds(db: str, source: str | None) -> str:
    """The year's DERIVED and COPY bytes per dataset (of ``source`` when given): ``{year:UInt16}`` is bound.

    A run counts in the day of its last terminal row, which is then a COMPLETE row of that year: only
    runs with such a row are resolved (exact, and it keeps the query to one year)."""
    by_source = "AND source = {source:String}" if source else ""
    year_days = "day >= makeDate({year:UInt16}, 1, 1) AND day < makeDate({year:UInt16} + 1, 1, 1)"
    runs = f"run_id IN (SELECT run_id FROM {db}.ledger WHERE kind = 'run' AND status = 'COMPLETE' AND {year_days})"
    return f"""
        SELECT dataset_id, sum(b) AS amount FROM (
            SELECT dataset_id, bytes AS b FROM ({resolved_runs(db, runs)})
            WHERE status = 'COMPLETE' AND derivation IN ('DERIVED', 'COPY') AND {year_days} {by_source}
            UNION ALL
            SELECT dataset_id, bytes FROM {db}.ledger
            WHERE kind = 'output' AND derivation IN ('DERIVED', 'COPY') AND {year_days} {by_source}
        ) GROUP BY dataset_id HAVING sum(b) > 0"""


def _hex(values: str) -> str:
    """An Array(UInt32) as one string of 8 hex digits a value: ~2M values cross as 16 MB in ~30 ms, not 2M ints."""
    return f"arrayStringConcat(arrayMap(h -> leftPad(hex(toUInt32(h)), 8, '0'), {values}))"


def _unhex(text: str) -> np.ndarray[Any, np.dtype[np.int64]]:
    return np.frombuffer(bytes.fromhex(text), dtype=">u4").astype(np.int64)


def _amounts(values: str) -> str:
    """An Array(UInt256) as one string: 16 hex digits a value after an ``x`` when every value is below 2**63
    (numpy reads ~250k of them in ~1 ms), else exact decimals separated by commas."""
    return (
        f"if(arrayAll(b -> b < toUInt256(9223372036854775808), {values}), "
        f"concat('x', arrayStringConcat(arrayMap(b -> leftPad(hex(toUInt64(b)), 16, '0'), {values}))), "
        f"arrayStringConcat(arrayMap(b -> toString(b), {values}), ','))"
    )


def _ints(text: str) -> Amounts:
    """Exact integers from ``_amounts``: int64 when they fit (the attribution's arithmetic stays in machine
    integers while it can, ``lineage_arrays.exact_dtype``), Python ints otherwise."""
    if text.startswith("x"):
        return np.frombuffer(bytes.fromhex(text[1:]), dtype=">u8").astype(np.int64)
    return np.array([int(x) for x in text.split(",")] if text else [], dtype=object)


class ClickHouseGraph:
    def __init__(self, client: Reader, database: str) -> None:
        check_identifier(database)
        self._client = client
        self._db = quote_identifier(database)

    def _query(self, sql: str, what: str, **parameters: object) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._client.query(sql, parameters=parameters).result_rows]
        except (DatabaseError, OperationalError) as exc:
            raise wrap(exc, what) from exc

    def neighbourhood(self, dataset: str, direction: Direction, depth: int, budget: int) -> Neighbourhood:
        """One query: the walk's levels, each read once; what they read, folded into edges and bytes in Python."""
        steps = f"CROSS JOIN ({_walk_step(self._db, direction, _FRONTIER)}) AS x"
        groups = "Array(Tuple(String, Bool, UInt256, UInt256, String, Array(String), Array(Tuple(String, UInt256))))"
        carried = (_Carried("groups", groups, "[]", "x.groups"),)
        ((seen, levels),) = self._query(
            f"""{_levels("[{dataset:String}]", "", depth, budget, steps, carried)}
                SELECT argMax(seen, lvl), groupArray(groups) FROM w{_steps_for(depth)}""",
            f"lineage {direction} walk",
            dataset=dataset,
        )
        edges, node_bytes = _fold(levels)
        return Neighbourhood(edges, node_bytes, frozenset(str(i) for i in seen))

    def ancestry(self, year: int, source: str | None, depth: int, budget: int) -> Ancestry:
        """One query: the seeds, the levels upstream with their edges and their datasets' bytes and sources, every
        id of the answer in order, and every dataset named in the answer as its number in that order."""
        db = self._db
        seeds = f"""FROM (SELECT groupArray(dataset_id) AS sid, groupArray(amount) AS samount
                          FROM (SELECT dataset_id, amount FROM ({_seeds(db, source)}) ORDER BY dataset_id))"""
        steps = f"""
            CROSS JOIN (SELECT groupUniqArray(parent) AS far, groupArray(child) AS near_i, groupArray(parent) AS far_i
                        FROM ({_edges_into(db, _FRONTIER)})) AS x
            CROSS JOIN (SELECT groupArray(dataset_id) AS node_i, groupArray(bytes) AS node_b, groupArray(source) AS node_s
                        FROM ({_node_bytes_and_source(db, _FRONTIER)})) AS y"""
        carried = (
            _Carried("seed_i", "Array(String)", "sid", "[]"),
            _Carried("seed_b", "Array(UInt256)", "samount", "[]"),
            _Carried("far", "Array(String)", "[]", "x.far"),
            _Carried("near_i", "Array(String)", "[]", "x.near_i"),
            _Carried("far_i", "Array(String)", "[]", "x.far_i"),
            _Carried("node_i", "Array(String)", "[]", "y.node_i"),
            _Carried("node_b", "Array(UInt256)", "[]", "y.node_b"),
            _Carried("node_s", "Array(String)", "[]", "y.node_s"),
        )
        # Every dataset named in the answer, numbered in ClickHouse: arrayEnumerateDense gives each element the
        # position of its value's first occurrence, and the ids come first, distinct and in order, so a name's
        # number is its id's position (1-based): exact, whatever the ids. Python binary-searched 64-bit hashes
        # of the ids before (~0.3 s for the ~2M names of one year on the 1e6 graph); this is ~0.1 s.
        ((ids, lengths, numbers, node_b, source_names, node_s, seed_b),) = self._query(
            f"""{_levels("sid", seeds, depth, budget, steps, carried)}
                SELECT arraySort(arrayDistinct(arrayConcat(argMax(seen, lvl) AS expanded, arrayFlatten(groupArray(far))))) AS ids,
                       [length(expanded), length(arrayFlatten(groupArray(near_i)) AS near),
                        length(arrayFlatten(groupArray(far_i)) AS far_all), length(arrayFlatten(groupArray(node_i)) AS nodes),
                        length(arrayFlatten(groupArray(seed_i)) AS seeded)],
                       {_hex("arrayEnumerateDense(arrayConcat(ids, expanded, near, far_all, nodes, seeded))")},
                       {_amounts("arrayFlatten(groupArray(node_b))")},
                       arrayDistinct(arrayFlatten(groupArray(node_s)) AS sources) AS names,
                       {_hex("arrayMap(s -> indexOf(names, s) - 1, sources)")},
                       {_amounts("arrayFlatten(groupArray(seed_b))")}
                FROM w{_steps_for(depth)}""",
            "lineage ancestry query",
            year=year,
            source=source or "",
        )
        n = len(ids)
        numbered = _unhex(numbers)[n:] - 1
        if numbered.size and int(numbered.max()) >= n:
            raise AssertionError("a dataset of the answer is not among its ids")  # the query's contract
        expanded_at, near, far, nodes, seeded = np.split(numbered, np.cumsum(lengths)[:-1])
        expanded = np.zeros(n, dtype=np.bool_)
        expanded[expanded_at] = True
        node_weight = _ints(node_b)
        weight: Amounts = np.zeros(n, dtype=np.int64) if node_weight.dtype == np.int64 else np.zeros(n, dtype=object)
        weight[nodes] = node_weight  # int64 or Python ints, as the amounts came
        sources = np.full(n, "", dtype=object)
        sources[nodes] = np.array(source_names, dtype=object)[_unhex(node_s)]
        return Ancestry(
            list(ids), near, far, expanded, weight, sources, dict(zip(seeded.tolist(), _ints(seed_b).tolist(), strict=True))
        )
