"""Questions asked of the lineage graph: upstream, downstream, impact, and attribution to roots.

Pure functions over a ``Graph``, which fetches in one call everything a question needs
(``sinks.lineage_graph`` answers from ClickHouse in one query; tests from memory). The rules
live here and in ``sinks.lineage_arrays``, never in the fetch: a fetch only has to hold the
edges of every dataset the rules will expand. Every answer is bounded and says so:

- **walks** go level by level (``lineage_arrays.levels``): a dataset is visited once, at its
  first level (so a cycle cannot loop); a level's new datasets are taken in the order of their
  ids while the ``budget`` of datasets lasts; the walk stops at ``depth`` levels. ``partial``
  is set when a bound left something out: a dataset not taken for the budget, or an edge
  beyond the last level. Cycles met on the way are reported;
- **attribution** (``roots``): the bytes of DERIVED and COPY data counted in a year are
  handed from each dataset to its parents until they reach roots (datasets without
  parents). A dataset's amount (its own bytes of the year plus what its children handed
  it) is split among its parents **in proportion to the parents' bytes** (all counted
  bytes of each parent; equal shares when no parent has any), by the largest remainder
  method on integers: shares are ``floor(amount * w / W)``, and the bytes left over go one
  each to the largest remainders (ties to the smaller dataset id). Each split adds up to
  the byte, so every attributed total does. A dataset is split once, after all its
  children (reverse topological order), so the result does not depend on edge order.
  **Cycles** stop that order: the stuck dataset with the smallest id has its incoming
  edges from unfinished children cut (reported in ``cycles_cut``), and goes on; each byte
  is still handed on exactly once. The ancestors are found by the walks' rule (upstream
  from every dataset with bytes that year, ``depth`` levels, ``budget`` datasets); bytes
  that reach a dataset whose parents a bound hid stay there, listed as ``unresolved`` and
  ``partial``.

Why weigh by parent bytes: a child of a 1 TB table and a 1 kB lookup table mostly carries
the big table's information; equal shares would credit the lookup table with half. It is
an assumption (lineage says that a parent contributed, not how much); it is documented
and the same for every dataset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from zettaledger.sinks.lineage_arrays import (
    Amounts,
    Ints,
    distinct,
    exact_dtype,
    largest_remainder,
    levels,
    propagate,
    require_expanded,
)

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_DEPTH",
    "Ancestry",
    "Direction",
    "Edge",
    "Graph",
    "Lineage",
    "Neighbourhood",
    "Node",
    "Roots",
    "apportion",
    "attribute",
    "impact",
    "walk",
]

DEFAULT_DEPTH = 20
DEFAULT_BUDGET = 10_000  # nodes in one walk; an attribution gets 100x
Direction = Literal["upstream", "downstream"]


@dataclass(frozen=True, slots=True, order=True)
class Edge:
    parent: str
    child: str
    bytes: int  # bytes the child received from counted runs that read the parent
    derivation: str  # COPY when every such run copied, else DERIVED


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    depth: int
    bytes: int


@dataclass(frozen=True)
class Neighbourhood:
    """What a walk needs: every edge of each ``expanded`` dataset in the walk's direction, and their bytes.

    A fetch must expand at least every dataset the walk's rule reaches within its depth and
    budget (it may expand more: the rule, not the fetch, decides the answer)."""

    edges: tuple[Edge, ...]
    node_bytes: Mapping[str, int]
    expanded: frozenset[str]


@dataclass(frozen=True)
class Ancestry:
    """What an attribution needs, as arrays: datasets numbered in the order of their ``ids``; the
    upstream edges ``child -> parent`` of each ``expanded`` dataset (at least every dataset the
    walks' rule reaches upstream from the seeds); ``weight`` (counted bytes) and ``source`` of each
    expanded dataset; ``seed``: the year's DERIVED and COPY bytes, by dataset number."""

    ids: Sequence[str]
    child: Ints
    parent: Ints
    expanded: npt.NDArray[np.bool_]
    weight: Amounts
    source: npt.NDArray[np.object_]
    seed: Mapping[int, int]


class Graph(Protocol):
    def neighbourhood(self, dataset: str, direction: Direction, depth: int, budget: int) -> Neighbourhood: ...
    def ancestry(self, year: int, source: str | None, depth: int, budget: int) -> Ancestry: ...


@dataclass(frozen=True)
class Lineage:
    """The answer of a walk. ``partial`` is True whenever a bound cut it."""

    dataset: str
    direction: str
    depth: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    partial: bool
    cut_by: tuple[str, ...] = ()  # "depth", "budget"
    cycles: tuple[tuple[str, str], ...] = ()  # edges that close a cycle

    @property
    def total_bytes(self) -> int:
        return sum(n.bytes for n in self.nodes if n.depth > 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "direction": self.direction,
            "depth": self.depth,
            "nodes": [{"id": n.id, "depth": n.depth, "bytes": n.bytes} for n in self.nodes],
            "edges": [{"parent": e.parent, "child": e.child, "bytes": e.bytes, "derivation": e.derivation} for e in self.edges],
            "partial": self.partial,
            "cut_by": list(self.cut_by),
            "cycles": [list(c) for c in self.cycles],
            "total_bytes": self.total_bytes,
        }


@dataclass(frozen=True)
class Roots:
    """Attribution of one year's derived and copied bytes to the roots they descend from."""

    year: int
    source: str | None
    total_bytes: int  # what was attributed: equals sum(roots) + sum(unresolved)
    roots: tuple[tuple[str, str, int], ...]  # (root id, its source, bytes), largest first
    unresolved: tuple[tuple[str, int], ...]  # (dataset where a bound stopped bytes, bytes)
    partial: bool
    cycles_cut: tuple[tuple[str, str], ...] = ()
    nodes_visited: int = 0

    def by_source(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for _, source, b in self.roots:
            out[source] += b
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": None,
            "year": self.year,
            "source": self.source,
            "total_bytes": self.total_bytes,
            "nodes": [{"id": r, "depth": None, "bytes": b, "source": s} for r, s, b in self.roots],
            "edges": [],
            "by_source": self.by_source(),
            "unresolved": [{"id": i, "bytes": b} for i, b in self.unresolved],
            "partial": self.partial,
            "cycles_cut": [list(c) for c in self.cycles_cut],
            "nodes_visited": self.nodes_visited,
        }


def apportion(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount`` over ``weights`` by largest remainder: integer shares that add up to ``amount``
    (the split every attribution step makes; ties to the smaller key)."""
    if amount < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("amount and weights must be >= 0")
    if not weights:
        raise ValueError("nothing to apportion over")
    keys = sorted(weights)
    return dict(zip(keys, largest_remainder(amount, [weights[k] for k in keys]), strict=True))


def _numbered(ids: Sequence[str]) -> dict[str, int]:
    return {x: i for i, x in enumerate(ids)}


def walk(graph: Graph, dataset: str, direction: Direction, depth: int = DEFAULT_DEPTH, budget: int = DEFAULT_BUDGET) -> Lineage:
    """Datasets upstream (ancestors) or downstream (descendants) of ``dataset``, level by level."""
    if depth < 0 or budget < 1:
        raise ValueError("depth must be >= 0 and budget >= 1")
    got = graph.neighbourhood(dataset, direction, depth, budget)
    upstream = direction == "upstream"
    ids = sorted({dataset} | got.expanded | {x for e in got.edges for x in (e.parent, e.child)})
    number = _numbered(ids)
    near = np.array([number[e.child if upstream else e.parent] for e in got.edges], dtype=np.int64)
    far = np.array([number[e.parent if upstream else e.child] for e in got.edges], dtype=np.int64)
    expanded = np.zeros(len(ids), dtype=np.bool_)
    expanded[[number[x] for x in got.expanded]] = True
    found = levels(len(ids), near, far, expanded, np.array([number[dataset]], dtype=np.int64), depth, budget)
    level = found.level
    cut = {"budget"} if found.budget_cut else set()
    last = level == depth  # visited, not expanded: anything beyond them is cut off
    require_expanded(expanded, np.flatnonzero(last))
    if last[near].any():
        cut.add("depth")
    kept = {
        (e.parent, e.child): e for e, n, f in zip(got.edges, near, far, strict=True) if 0 <= level[n] < depth and level[f] >= 0
    }
    reached = np.flatnonzero(level >= 0)
    nodes = tuple(
        sorted((Node(ids[i], int(level[i]), got.node_bytes.get(ids[i], 0)) for i in reached), key=lambda x: (x.depth, x.id))
    )
    return Lineage(
        dataset, direction, depth, nodes, tuple(sorted(kept.values())), bool(cut), tuple(sorted(cut)), _cycle_edges(kept)
    )


def impact(graph: Graph, dataset: str, depth: int = DEFAULT_DEPTH, budget: int = DEFAULT_BUDGET) -> Lineage:
    """What depends on ``dataset``: the downstream walk; its ``total_bytes`` is the bytes that a revision would touch."""
    return walk(graph, dataset, "downstream", depth, budget)


def _cycle_edges(edges: Mapping[tuple[str, str], Edge]) -> tuple[tuple[str, str], ...]:
    """Edges inside a cycle (both ends in one strongly connected component), found without recursion."""
    succ: dict[str, list[str]] = defaultdict(list)
    for p, c in edges:
        if p == c:
            continue
        succ[p].append(c)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    comp: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    counter = 0
    for root in sorted(succ):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on.add(node)
            targets = succ.get(node, [])
            if i < len(targets):
                work.append((node, i + 1))
                t = targets[i]
                if t not in index:
                    work.append((t, 0))
                elif t in on:
                    low[node] = min(low[node], index[t])
                continue
            if low[node] == index[node]:
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp[w] = index[node]
                    if w == node:
                        break
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return tuple(sorted((p, c) for p, c in edges if p != c and comp.get(p) is not None and comp.get(p) == comp.get(c)))


def attribute(
    graph: Graph, year: int, source: str | None = None, depth: int = DEFAULT_DEPTH, budget: int = 100 * DEFAULT_BUDGET
) -> Roots:
    """Apportion the year's DERIVED and COPY bytes (of ``source`` when given) to the roots they descend from."""
    if depth < 0 or budget < 1:
        raise ValueError("depth must be >= 0 and budget >= 1")
    got = graph.ancestry(year, source, depth, budget)
    n = len(got.ids)
    seeds = {i: b for i, b in got.seed.items() if b}
    total = sum(seeds.values())
    # 1. The ancestors: the walks' rule, upstream from every seed at once.
    found = levels(n, got.child, got.parent, got.expanded, np.array(sorted(seeds), dtype=np.int64), depth, budget)
    level = found.level
    taking_part = level >= 0
    # A dataset is bounded when a bound hid one of its parents: at the last level, any parent;
    # before it, a parent left out for the budget. Self-loops are not parents.
    require_expanded(got.expanded, np.flatnonzero(level == depth))
    proper = got.child != got.parent
    bounded = np.zeros(n, dtype=np.bool_)
    bounded[got.child[proper & (level[got.child] == depth)]] = True
    inner = proper & (level[got.child] >= 0) & (level[got.child] < depth)
    bounded[got.child[inner & (level[got.parent] < 0)]] = True
    kept = inner & (level[got.parent] >= 0)
    pairs = distinct(got.child[kept] * n + got.parent[kept])  # a child may read a parent in several runs
    child, parent = pairs // n, pairs % n
    # 2. Hand the amounts up, each dataset once, after all its children.
    dtype = exact_dtype(total, got.weight)
    weight: Amounts = got.weight.astype(dtype)
    amount: Amounts = np.zeros(n, dtype=dtype)
    amount[list(seeds)] = list(seeds.values())
    done = propagate(n, child, parent, weight, amount, bounded, taking_part)
    roots = tuple((got.ids[i], got.source[i] or "OTHER", b) for i, b in done.at_root)  # numbers are in id order
    unresolved = tuple((got.ids[i], b) for i, b in done.unresolved)
    return Roots(
        year,
        source,
        total,
        roots,
        unresolved,
        bool(bounded.any()),
        tuple(sorted((got.ids[p], got.ids[c]) for p, c in done.cycles_cut)),
        int(taking_part.sum()),
    )
