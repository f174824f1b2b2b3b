"""Questions asked of the lineage graph: upstream, downstream, impact, and attribution to roots.

Pure functions over a ``Graph`` (one query per level of a walk; ``sinks.lineage_graph``
answers them from ClickHouse, tests from memory). Every answer is bounded and says so:

- **walks** expand a frontier level by level (one ``IN`` query per level on a table
  ordered by the key walked), never visit a node twice (so a cycle cannot loop), stop at
  ``depth`` levels or ``budget`` nodes, and set ``partial`` when a bound left something
  out; cycles met on the way are reported;
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
  is still handed on exactly once. Bytes that reach the depth or node bound before a
  root stay with the dataset where they stopped, listed as ``unresolved`` and ``partial``.

Why weigh by parent bytes: a child of a 1 TB table and a 1 kB lookup table mostly carries
the big table's information; equal shares would credit the lookup table with half. It is
an assumption (lineage says that a parent contributed, not how much); it is documented
and the same for every dataset.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_DEPTH",
    "Edge",
    "Graph",
    "Lineage",
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


class Graph(Protocol):
    def parents(self, ids: Sequence[str]) -> list[Edge]: ...
    def children(self, ids: Sequence[str]) -> list[Edge]: ...
    def node_bytes(self, ids: Sequence[str]) -> dict[str, int]: ...
    def sources(self, ids: Sequence[str]) -> dict[str, str]: ...
    def seeds(self, year: int, source: str | None) -> dict[str, int]: ...


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
    """Split ``amount`` over ``weights`` by largest remainder: integer shares that add up to ``amount``."""
    if amount < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("amount and weights must be >= 0")
    if not weights:
        raise ValueError("nothing to apportion over")
    keys = sorted(weights)
    total = sum(weights.values())
    w = {k: weights[k] for k in keys} if total else dict.fromkeys(keys, 1)
    total = total or len(keys)
    shares = {k: amount * w[k] // total for k in keys}
    left = amount - sum(shares.values())
    if left:
        for k in sorted(keys, key=lambda k: (-(amount * w[k] % total), k))[:left]:
            shares[k] += 1
    return shares


def walk(graph: Graph, dataset: str, direction: Direction, depth: int = DEFAULT_DEPTH, budget: int = DEFAULT_BUDGET) -> Lineage:
    """Datasets upstream (ancestors) or downstream (descendants) of ``dataset``, level by level."""
    if depth < 0 or budget < 1:
        raise ValueError("depth must be >= 0 and budget >= 1")
    level_of: dict[str, int] = {dataset: 0}
    edges: dict[tuple[str, str], Edge] = {}
    cut: set[str] = set()
    frontier = [dataset]
    level = 0
    step = graph.parents if direction == "upstream" else graph.children
    while frontier:
        if level >= depth:
            if step(frontier[:1000]):  # is there anything beyond the bound? (a sample is enough to say partial)
                cut.add("depth")
            break
        found = step(frontier)
        level += 1
        nxt: list[str] = []
        for e in sorted(found):
            edges[(e.parent, e.child)] = e
            other = e.parent if direction == "upstream" else e.child
            if other in level_of:
                continue
            if len(level_of) >= budget:
                cut.add("budget")
                continue
            level_of[other] = level
            nxt.append(other)
        frontier = nxt
    kept = {k: e for k, e in edges.items() if k[0] in level_of and k[1] in level_of}
    node_bytes = graph.node_bytes(sorted(level_of))
    nodes = tuple(Node(i, d, node_bytes.get(i, 0)) for i, d in sorted(level_of.items(), key=lambda kv: (kv[1], kv[0])))
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
    amount: dict[str, int] = {k: v for k, v in graph.seeds(year, source).items() if v}
    total = sum(amount.values())
    # 1. The ancestors, level by level (bounded), with every edge between fetched nodes.
    level_of = dict.fromkeys(amount, 0)
    parents: dict[str, set[str]] = defaultdict(set)
    frontier = sorted(amount)
    bounded: set[str] = set()  # fetched nodes whose parents were not fetched (depth or budget)
    partial = False
    level = 0
    while frontier:
        if level >= depth:
            bounded.update(frontier)
            break
        level += 1
        nxt: list[str] = []
        for e in graph.parents(frontier):
            if e.parent == e.child:
                continue
            if e.parent not in level_of:
                if len(level_of) >= budget:
                    bounded.add(e.child)
                    continue
                level_of[e.parent] = level
                nxt.append(e.parent)
            parents[e.child].add(e.parent)
        frontier = sorted(set(nxt))
    # A bounded node keeps its amount only if it really has unfetched parents.
    if bounded:
        beyond = {e.child for e in graph.parents(sorted(bounded)) if e.parent != e.child and e.parent not in parents[e.child]}
        bounded &= beyond
        partial = bool(bounded)
    weight = graph.node_bytes(sorted({p for ps in parents.values() for p in ps}))
    # 2. Hand amounts up, each node once, after all its children.
    children_left: dict[str, int] = defaultdict(int)
    for ps in parents.values():
        for p in ps:
            children_left[p] += 1
    ready = [n for n in level_of if children_left[n] == 0]
    heapq.heapify(ready)
    done: set[str] = set()
    cut: list[tuple[str, str]] = []
    at_root: dict[str, int] = defaultdict(int)
    unresolved: dict[str, int] = defaultdict(int)
    while len(done) < len(level_of):
        if not ready:  # a cycle: cut the edges into the smallest stuck node from its unfinished children
            stuck = min(n for n in level_of if n not in done)
            for child in sorted(c for c, ps in parents.items() if stuck in ps and c not in done):
                parents[child].discard(stuck)
                cut.append((stuck, child))
            children_left[stuck] = 0
            heapq.heappush(ready, stuck)
        node = heapq.heappop(ready)
        if node in done:
            continue
        done.add(node)
        here = amount.pop(node, 0)
        ps = parents.get(node, set())
        if node in bounded:
            unresolved[node] += here
        elif not ps:
            at_root[node] += here
        elif here:
            for p, share in apportion(here, {p: weight.get(p, 0) for p in ps}).items():
                amount[p] = amount.get(p, 0) + share
        for p in ps:
            children_left[p] -= 1
            if children_left[p] == 0 and p not in done:
                heapq.heappush(ready, p)
    names = graph.sources(sorted(k for k, v in at_root.items() if v))
    roots = tuple(sorted(((r, names.get(r, "OTHER"), b) for r, b in at_root.items() if b), key=lambda t: (-t[2], t[0])))
    return Roots(
        year,
        source,
        total,
        roots,
        tuple(sorted(((k, v) for k, v in unresolved.items() if v), key=lambda t: (-t[1], t[0]))),
        partial,
        tuple(sorted(cut)),
        len(level_of),
    )
