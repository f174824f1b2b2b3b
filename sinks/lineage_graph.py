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
resolution (``sinks.lineage.run_resolution``) is COMPLETE, and native ``lineage`` rows. An
attribution resolves each level's runs once, for everything the level needs (node bytes and
sources, seeds, which ``run_input`` rows count), in a step of its own before the step that reads
the edges (``_ancestry_levels``); it resolved them twice before, and the seeds' runs a third time
(1.51 s to 1.40 s a year of the 1e6-dataset graph, medians of alternating processes). A
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
from zettaledger.sinks.lineage import run_resolution
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


@dataclass(frozen=True)
class _Carried:
    """A column of ``w`` besides the walk's own: its type, its value in the first row, and in a step's row
    (an expression over the step's subqueries)."""

    name: str
    type: str
    first: str
    step: str


def _new_datasets(budget: int) -> str:
    """The next level, inside a step, by the rule of ``lineage_arrays.levels``: the far ends of the level's edges
    (``x.far``) not seen yet, in id order, while the ``budget`` of datasets lasts."""
    room = f"toUInt64(greatest(0, {int(budget)} - toInt64(length(w.seen))))"
    return f"arraySlice(arraySort(arrayExcept(x.far, w.seen)), 1, {room})"


def _levels(anchor: str, anchor_from: str, depth: int, budget: int, steps: str, carried: Sequence[_Carried]) -> str:
    """``WITH RECURSIVE w``: one row per level with ``frontier`` (its datasets, in id order; the first level is
    ``anchor``, from ``anchor_from``) and ``seen`` (every dataset of the levels so far), by the rule of
    ``lineage_arrays.levels``; ``steps`` are the subqueries joined to each level (``x`` gives ``far``: the far
    ends of the level's edges), ``carried`` what else a row keeps. Every level is expanded, the last
    (``depth``) too: its edges tell what lies beyond the bound."""
    first = "".join(f", CAST({c.first}, '{c.type}') AS {c.name}" for c in carried)
    then = "".join(f", {c.step}" for c in carried)
    return f"""
        WITH RECURSIVE w AS (
            SELECT toUInt32(0) AS lvl, {anchor} AS frontier, frontier AS seen{first} {anchor_from}
            UNION ALL
            SELECT w.lvl + 1,
                   if(w.lvl < {int(depth)}, {_new_datasets(budget)}, CAST([], 'Array(String)')) AS nf,
                   arrayConcat(w.seen, nf){then}
            FROM w {steps}
            WHERE length(w.frontier) > 0
        )"""


def _steps_for(steps: int) -> str:
    """ClickHouse stops a recursion after ``max_recursive_cte_evaluation_depth`` (1000) steps, and a walk takes
    up to ``depth + 1`` (an attribution twice that): only a deeper one asks for more (a setting, which the
    worker's read-only endpoint refuses; the refusal says so)."""
    return f" SETTINGS max_recursive_cte_evaluation_depth = {steps}" if steps > 1000 else ""


_YEAR = "{column} >= makeDate({{year:UInt16}}, 1, 1) AND {column} < makeDate({{year:UInt16}} + 1, 1, 1)"
_RESOLVING = "(SELECT arrayJoin(frontier) FROM w WHERE phase = 0)"  # an attribution's level, in its resolving step


def _candidates(db: str, source: str | None) -> str:
    """A superset of the year's seeds, read by the ledger's primary key (kind, day): every dataset with a COMPLETE
    ``run`` row of the year (a run counts in the day of its last terminal row, which is then such a row) or a native
    DERIVED or COPY ``output`` row of the year (of ``source`` when given). ``{year:UInt16}`` is bound."""
    by_source = "AND source = {source:String}" if source else ""
    return f"""
        SELECT arraySort(groupUniqArray(dataset_id)) AS candidates FROM (
            SELECT dataset_id FROM {db}.ledger WHERE kind = 'run' AND status = 'COMPLETE' AND {_YEAR.format(column="day")}
            UNION ALL
            SELECT dataset_id FROM {db}.ledger
            WHERE kind = 'output' AND derivation IN ('DERIVED', 'COPY') AND {_YEAR.format(column="day")} {by_source})"""


def _resolve_level(db: str, source: str | None) -> str:
    """The resolving step of an attribution's level, as one row: one pass over the level's ``run`` rows (each run
    resolved once, ``run_resolution``) and its native and registration rows gives everything the level needs.

    - ``node_i``/``node_b``/``node_s``: each dataset's counted bytes (COMPLETE runs, not suspect, and native bytes)
      and the source they were counted under (the one with the most bytes, ties to the last name); without bytes
      counted, ``HIGH_QUALITY`` when registered as a high-quality dataset, ``REGISTERED`` when registered otherwise;
    - ``seed_i``/``seed_b``: at level 0, the year's DERIVED and COPY bytes (of ``source`` when given) of each
      candidate that has some: the seeds; the level keeps only them (the other candidates are reached again as
      parents, if they are);
    - ``in_ds``: the datasets with a COMPLETE run that may have inputs (its rows do not all say ``no_inputs``):
      the only ones whose ``run_input`` rows the edge step reads;
    - ``bad``: the other (dataset, run) pairs of those datasets, whose ``run_input`` rows must not count (a failed
      or unfinished run; a run without inputs has none). Few, so the edge step checks a pair only when its run is
      among them.
    """
    by_source = "AND {column} = {{source:String}}" if source else ""
    counted_run = "r_status = 'COMPLETE' AND r_suspect = 0"
    seeded_run = f"{counted_run} AND r_derivation IN ('DERIVED', 'COPY') AND {_YEAR.format(column='r_day')} {by_source.format(column='r_source')}"
    seeded_output = f"derivation IN ('DERIVED', 'COPY') AND {_YEAR.format(column='day')} {by_source.format(column='source')}"
    rows = f"""
        SELECT dataset_id, run_id, r_status = 'COMPLETE' AS counted, if(counted, r_source, '') AS src,
               if({counted_run}, r_bytes, toUInt256(0)) AS b, if({seeded_run}, r_bytes, toUInt256(0)) AS seed_b,
               counted AND may AS good, NOT good AS bad
        FROM (SELECT dataset_id, run_id, {run_resolution("kind = 'run'")}, min(no_inputs) = 0 AS may
              FROM {db}.ledger WHERE kind = 'run' AND dataset_id IN {_RESOLVING} GROUP BY dataset_id, run_id)
        UNION ALL
        SELECT dataset_id, '', 1, toString(source), bytes, if({seeded_output}, bytes, toUInt256(0)), 0, 0
        FROM {db}.ledger WHERE kind = 'output' AND dataset_id IN {_RESOLVING}
        UNION ALL
        SELECT dataset_id, '', 0, if(argMax(toString(quality_grade), {_REGISTERED_VERSION}) = 'HIGH', 'HIGH_QUALITY', 'REGISTERED'),
               toUInt256(0), toUInt256(0), 0, 0
        FROM {db}.ledger WHERE kind = 'dataset' AND dataset_id IN {_RESOLVING} GROUP BY dataset_id"""
    per_source = f"""
        SELECT dataset_id, src, max(counted) AS c, sumIf(b, counted) AS sb, sum(seed_b) AS seed, max(good) AS has_inputs,
               groupArrayIf(run_id, bad) AS bad_runs
        FROM ({rows}) GROUP BY dataset_id, src"""
    per_dataset = f"""
        SELECT dataset_id, sum(sb) AS bytes, argMax(src, tuple(c, sb, src)) AS source, sum(seed) AS seed,
               max(has_inputs) AS has_inputs, arrayFlatten(groupArray(bad_runs)) AS bad_runs
        FROM ({per_source}) GROUP BY dataset_id"""
    return f"""
        SELECT groupArrayIf(dataset_id, keep) AS node_i, groupArrayIf(bytes, keep) AS node_b, groupArrayIf(source, keep) AS node_s,
               groupArrayIf(dataset_id, first AND seed > 0) AS seed_i, groupArrayIf(seed, first AND seed > 0) AS seed_b,
               groupArrayIf(dataset_id, keep AND has_inputs) AS in_ds,
               arrayFlatten(groupArrayIf(arrayMap(r -> (dataset_id, r), bad_runs), keep AND has_inputs)) AS bad
        FROM (SELECT *, NOT first OR seed > 0 AS keep
              FROM ({per_dataset}) AS d CROSS JOIN (SELECT lvl = 0 AS first FROM w WHERE phase = 0) AS level)"""


def _level_edges(db: str) -> str:
    """The edge step of an attribution's level: (child, parent) of the edges into it, without bytes. ``run_input``
    rows only of ``in_ds``, and not of a ``bad`` pair (ClickHouse evaluates ``AND`` lazily: the pair is looked up
    only for a row whose run is among them). Every ``run_input`` row lands in the same insert as a ``run`` row of
    its run and output (``streams.openlineage_runs``), so each has been resolved. Native ``lineage`` rows of the
    level's datasets."""
    return f"""
        SELECT dataset_id AS child, parent_id AS parent FROM {db}.ledger
        WHERE kind = 'run_input' AND dataset_id IN (SELECT arrayJoin(in_ds) FROM w)
          AND NOT (run_id IN (SELECT tupleElement(arrayJoin(bad), 2) FROM w) AND (dataset_id, run_id) IN (SELECT arrayJoin(bad) FROM w))
          AND {_NOT_BY_PARENT}
        UNION ALL
        SELECT dataset_id, parent_id FROM {db}.ledger WHERE kind = 'lineage' AND dataset_id IN (SELECT arrayJoin(frontier) FROM w WHERE phase = 1)"""


def _ancestry_levels(db: str, source: str | None, depth: int, budget: int) -> str:
    """``WITH RECURSIVE w`` for an attribution: two rows a level, by the walks' rule (``lineage_arrays.levels``).

    A level's runs are resolved once, in its resolving row (``phase`` 0), and that row's ``in_ds`` and ``bad``
    tell the next step (``phase`` 1) which ``run_input`` rows to read; both need the resolution, and a query
    cannot hand one subquery's answer to another, only a recursion's row to its next step. Level 0 starts from
    the candidates and keeps the seeds. Every level is expanded, the last (``depth``) too: its edges tell what lies
    beyond the bound. Each step runs both subqueries; the one whose phase it is not reads an empty set (~5 ms)."""
    strings = "Array(String)"
    empty = "".join(
        f", CAST([], '{t}') AS {c}"
        for c, t in (
            ("seen", strings),
            ("in_ds", strings),
            ("bad", "Array(Tuple(String, String))"),
            ("seed_i", strings),
            ("seed_b", "Array(UInt256)"),
            ("far", strings),
            ("near_i", strings),
            ("far_i", strings),
            ("node_i", strings),
            ("node_b", "Array(UInt256)"),
            ("node_s", strings),
        )
    )
    return f"""
        WITH RECURSIVE w AS (
            SELECT toUInt32(0) AS lvl, toUInt8(0) AS phase, candidates AS frontier{empty} FROM ({_candidates(db, source)})
            UNION ALL
            SELECT if(w.phase = 0, w.lvl, w.lvl + 1), 1 - w.phase,
                   multiIf(w.phase = 0 AND w.lvl = 0, y.seed_i, w.phase = 0, w.frontier, w.lvl < {int(depth)}, {_new_datasets(budget)}, CAST([], '{strings}')) AS nf,
                   multiIf(w.phase = 0 AND w.lvl = 0, y.seed_i, w.phase = 0, w.seen, arrayConcat(w.seen, nf)),
                   y.in_ds, y.bad, y.seed_i, y.seed_b, x.far, x.near_i, x.far_i, y.node_i, y.node_b, y.node_s
            FROM w
            CROSS JOIN (SELECT groupUniqArray(parent) AS far, groupArray(child) AS near_i, groupArray(parent) AS far_i
                        FROM ({_level_edges(db)})) AS x
            CROSS JOIN ({_resolve_level(db, source)}) AS y
            WHERE length(w.frontier) > 0
        )"""


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
                SELECT argMax(seen, lvl), groupArray(groups) FROM w{_steps_for(depth + 2)}""",
            f"lineage {direction} walk",
            dataset=dataset,
        )
        edges, node_bytes = _fold(levels)
        return Neighbourhood(edges, node_bytes, frozenset(str(i) for i in seen))

    def ancestry(self, year: int, source: str | None, depth: int, budget: int) -> Ancestry:
        """One query: the seeds, the levels upstream with their edges and their datasets' bytes and sources
        (``_ancestry_levels``), every id of the answer in order, and every dataset named in the answer as its
        number in that order."""
        # Every dataset named in the answer, numbered in ClickHouse: arrayEnumerateDense gives each element the
        # position of its value's first occurrence, and the ids come first, distinct and in order, so a name's
        # number is its id's position (1-based): exact, whatever the ids. Python binary-searched 64-bit hashes
        # of the ids before (~0.3 s for the ~2M names of one year on the 1e6 graph); this is ~0.1 s.
        ((ids, lengths, numbers, node_b, source_names, node_s, seed_b),) = self._query(
            f"""{_ancestry_levels(self._db, source, depth, budget)}
                SELECT arraySort(arrayDistinct(arrayConcat(argMax(seen, tuple(lvl, phase)) AS expanded, arrayFlatten(groupArray(far))))) AS ids,
                       [length(expanded), length(arrayFlatten(groupArray(near_i)) AS near),
                        length(arrayFlatten(groupArray(far_i)) AS far_all), length(arrayFlatten(groupArray(node_i)) AS nodes),
                        length(arrayFlatten(groupArray(seed_i)) AS seeded)],
                       {_hex("arrayEnumerateDense(arrayConcat(ids, expanded, near, far_all, nodes, seeded))")},
                       {_amounts("arrayFlatten(groupArray(node_b))")},
                       arrayDistinct(arrayFlatten(groupArray(node_s)) AS sources) AS names,
                       {_hex("arrayMap(s -> indexOf(names, s) - 1, sources)")},
                       {_amounts("arrayFlatten(groupArray(seed_b))")}
                FROM w{_steps_for(2 * depth + 4)}""",
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
