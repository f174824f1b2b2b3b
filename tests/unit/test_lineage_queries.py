"""Walks and attribution on graphs in memory: bounded, cycle-proof, exact to the byte, independent of edge order."""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zettaledger.sinks.lineage_arrays import propagate
from zettaledger.sinks.lineage_queries import Ancestry, Direction, Edge, Neighbourhood, apportion, attribute, walk


class MemoryGraph:
    """The whole graph in memory: every dataset expanded, so the rules alone decide every answer."""

    def __init__(
        self, edges: Sequence[Edge], node_bytes: dict[str, int], seeds: dict[str, int], sources: dict[str, str] | None = None
    ) -> None:
        self.edges = list(edges)
        self.bytes = node_bytes
        self.seed = seeds
        self.src = sources or {}
        self.names = sorted({x for e in self.edges for x in (e.parent, e.child)} | set(node_bytes) | set(seeds))

    def neighbourhood(self, dataset: str, direction: Direction, depth: int, budget: int) -> Neighbourhood:
        return Neighbourhood(tuple(self.edges), {x: self.bytes.get(x, 0) for x in self.names}, frozenset([*self.names, dataset]))

    def ancestry(self, year: int, source: str | None, depth: int, budget: int) -> Ancestry:
        number = {x: i for i, x in enumerate(self.names)}
        return Ancestry(
            self.names,
            np.array([number[e.child] for e in self.edges], dtype=np.int64),
            np.array([number[e.parent] for e in self.edges], dtype=np.int64),
            np.ones(len(self.names), dtype=np.bool_),
            np.array([self.bytes.get(x, 0) for x in self.names], dtype=object),
            np.array([self.src.get(x, "OTHER") for x in self.names], dtype=object),
            {number[k]: v for k, v in self.seed.items()},
        )


def e(p: str, c: str, b: int = 1) -> Edge:
    return Edge(p, c, b, "DERIVED")


def test_apportion_by_largest_remainder() -> None:
    assert apportion(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # the tie goes to the smaller id
    assert apportion(7, {"a": 0, "b": 0}) == {"a": 4, "b": 3}  # no weights: equal shares
    assert apportion(2**200 + 1, {"big": 3, "small": 1}) == {"big": 3 * 2**198 + 1, "small": 2**198}


@given(st.integers(0, 2**256), st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 2**64), min_size=1, max_size=8))
def test_apportioned_shares_add_up_to_the_byte(amount: int, weights: dict[str, int]) -> None:
    shares = apportion(amount, weights)
    assert sum(shares.values()) == amount and set(shares) == set(weights)


def test_walks_are_bounded_and_say_partial() -> None:
    chain = MemoryGraph([e(f"n{i}", f"n{i + 1}") for i in range(30)], {}, {})
    up = walk(chain, "n30", "upstream", depth=20)
    assert up.partial and up.cut_by == ("depth",) and max(n.depth for n in up.nodes) == 20
    assert not walk(chain, "n30", "upstream", depth=30).partial
    wide = MemoryGraph([e("root", f"c{i}") for i in range(100)], {}, {})
    down = walk(wide, "root", "downstream", budget=10)
    assert down.partial and "budget" in down.cut_by and len(down.nodes) == 10


def test_a_cycle_is_reported_and_never_loops() -> None:
    g = MemoryGraph([e("a", "b"), e("b", "c"), e("c", "a"), e("r", "a")], {"r": 5, "a": 1, "b": 1, "c": 1}, {"c": 1000})
    up = walk(g, "c", "upstream")
    assert set(up.cycles) == {("a", "b"), ("b", "c"), ("c", "a")} and not up.partial
    roots = attribute(g, 2025)
    assert roots.cycles_cut and sum(b for *_, b in roots.roots) + sum(b for _, b in roots.unresolved) == 1000


def test_attribution_follows_parent_bytes_through_depth() -> None:
    # iot (3000 B) and web (1000 B) feed features; features feeds model; model is copied.
    g = MemoryGraph(
        [e("iot", "features"), e("web", "features"), e("features", "model"), e("model", "model_cp")],
        {"iot": 3000, "web": 1000, "features": 400, "model": 100, "model_cp": 100},
        {"features": 400, "model": 100, "model_cp": 100},
        {"iot": "IOT", "web": "OTHER"},
    )
    roots = attribute(g, 2025)
    assert roots.roots == (("iot", "IOT", 450), ("web", "OTHER", 150)) and roots.total_bytes == 600
    assert roots.by_source() == {"IOT": 450, "OTHER": 150}


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[Edge], dict[str, int], dict[str, int]]:
    n = draw(st.integers(2, 14))
    names = [f"d{i:02d}" for i in range(n)]
    pairs = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=30, unique=True))
    edges = [e(p, c) for p, c in pairs]  # cycles and self-loops included on purpose
    largest = draw(st.sampled_from([2**20, 2**80]))  # machine integers, and Python integers beyond them
    node_bytes = {x: draw(st.integers(0, largest)) for x in names}
    seeds = {x: draw(st.integers(0, largest)) for x in draw(st.lists(st.sampled_from(names), max_size=n, unique=True))}
    return edges, node_bytes, seeds


def split(amount: int, weights: dict[str, int]) -> dict[str, int]:
    """The largest-remainder rule spelled out, one key at a time."""
    keys = sorted(weights)
    total = sum(weights.values())
    w = {k: weights[k] for k in keys} if total else dict.fromkeys(keys, 1)
    total = total or len(keys)
    shares = {k: amount * w[k] // total for k in keys}
    for k in sorted(keys, key=lambda k: (-(amount * w[k] % total), k))[: amount - sum(shares.values())]:
        shares[k] += 1
    return shares


def ancestors(edges: list[Edge], seeds: list[str], depth: int, budget: int) -> dict[str, int]:
    """The walks' rule upstream, one dataset at a time: levels, new datasets in id order while the budget lasts."""
    parents = defaultdict(set)
    for x in edges:
        parents[x.child].add(x.parent)
    level = dict.fromkeys(seeds, 0)
    frontier = sorted(seeds)
    for lv in range(1, depth + 1):
        new = sorted({p for c in frontier for p in parents[c]} - level.keys())[: max(budget - len(level), 0)]
        level.update(dict.fromkeys(new, lv))
        frontier = new
    return level


def one_at_a_time(
    edges: list[Edge], node_bytes: dict[str, int], seeds: dict[str, int], depth: int, budget: int
) -> tuple[dict[str, int], dict[str, int], list[tuple[str, str]], bool]:
    """The attribution as first written: dicts, one dataset split at a time, the smallest ready id first."""
    amount = {k: v for k, v in seeds.items() if v}
    level = ancestors(edges, list(amount), depth, budget)
    all_parents = defaultdict(set)
    for x in edges:
        if x.parent != x.child:
            all_parents[x.child].add(x.parent)
    bounded = {c for c in level if all_parents[c] and (level[c] == depth or not all_parents[c] <= level.keys())}
    parents = {c: {p for p in all_parents[c] if p in level} if level[c] < depth else set() for c in level}
    children_left: dict[str, int] = defaultdict(int)
    for ps in parents.values():
        for p in ps:
            children_left[p] += 1
    ready = [x for x in level if children_left[x] == 0]
    heapq.heapify(ready)
    done: set[str] = set()
    cut: list[tuple[str, str]] = []
    at_root: dict[str, int] = defaultdict(int)
    unresolved: dict[str, int] = defaultdict(int)
    while len(done) < len(level):
        if not ready:
            stuck = min(x for x in level if x not in done)
            for c in sorted(c for c, ps in parents.items() if stuck in ps and c not in done):
                parents[c].discard(stuck)
                cut.append((stuck, c))
            children_left[stuck] = 0
            heapq.heappush(ready, stuck)
        node = heapq.heappop(ready)
        if node in done:
            continue
        done.add(node)
        here, ps = amount.pop(node, 0), parents[node]
        if node in bounded:
            unresolved[node] += here
        elif not ps:
            at_root[node] += here
        elif here:
            for p, share in split(here, {p: node_bytes.get(p, 0) for p in ps}).items():
                amount[p] = amount.get(p, 0) + share
        for p in ps:
            children_left[p] -= 1
            if children_left[p] == 0 and p not in done:
                heapq.heappush(ready, p)
    return {k: v for k, v in at_root.items() if v}, {k: v for k, v in unresolved.items() if v}, sorted(cut), bool(bounded)


@settings(max_examples=300, deadline=None)
@given(graphs(), st.integers(0, 25), st.integers(1, 16))
def test_attribution_in_arrays_equals_one_dataset_at_a_time(
    world: tuple[list[Edge], dict[str, int], dict[str, int]], depth: int, budget: int
) -> None:
    edges, node_bytes, seeds = world
    got = attribute(MemoryGraph(edges, node_bytes, seeds), 2025, depth=depth, budget=budget)
    at_root, unresolved, cut, partial = one_at_a_time(edges, node_bytes, seeds, depth, budget)
    assert {r: b for r, _, b in got.roots} == at_root and dict(got.unresolved) == unresolved
    assert list(got.cycles_cut) == cut and got.partial == partial


@given(st.integers(0, 2**256), st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 2**64), min_size=1, max_size=8))
def test_apportion_is_the_rule_spelled_out(amount: int, weights: dict[str, int]) -> None:
    assert apportion(amount, weights) == split(amount, weights)


def walk_one_at_a_time(edges: list[Edge], start: str, up: bool, depth: int, budget: int) -> tuple[dict[str, int], set[str]]:
    """A walk as first written: dicts, level by level, new datasets in id order while the budget lasts."""
    step = defaultdict(set)
    for x in edges:
        step[x.child if up else x.parent].add(x.parent if up else x.child)
    level, frontier, cut = {start: 0}, [start], set()
    for lv in range(1, depth + 1):
        new = sorted({m for n in frontier for m in step[n]} - level.keys())
        room = budget - len(level)
        if len(new) > room:
            cut.add("budget")
        level.update(dict.fromkeys(new[:room], lv))
        frontier = new[:room]
    if any(step[n] for n, lv in level.items() if lv == depth):
        cut.add("depth")
    return level, cut


@settings(max_examples=300, deadline=None)
@given(graphs(), st.booleans(), st.integers(0, 6), st.integers(1, 16))
def test_walks_in_arrays_equal_one_dataset_at_a_time(
    world: tuple[list[Edge], dict[str, int], dict[str, int]], up: bool, depth: int, budget: int
) -> None:
    edges, node_bytes, _ = world
    start = edges[0].child if edges else "d00"
    got = walk(MemoryGraph(edges, node_bytes, {}), start, "upstream" if up else "downstream", depth, budget)
    level, cut = walk_one_at_a_time(edges, start, up, depth, budget)
    assert {n.id: n.depth for n in got.nodes} == level and set(got.cut_by) == cut and got.partial == bool(cut)
    ends = [((x.child, x.parent) if up else (x.parent, x.child), x) for x in edges]
    assert set(got.edges) == {x for (near, far), x in ends if level.get(near, depth) < depth and far in level}


@settings(max_examples=300, deadline=None)
@given(graphs(), st.integers(0, 2**32), st.integers(1, 25))
def test_attributed_totals_add_up_to_the_byte_whatever_the_edge_order(
    world: tuple[list[Edge], dict[str, int], dict[str, int]], seed: int, depth: int
) -> None:
    edges, node_bytes, seeds = world
    first = attribute(MemoryGraph(edges, node_bytes, seeds), 2025, depth=depth)
    shuffled = edges[:]
    random.Random(seed).shuffle(shuffled)
    again = attribute(MemoryGraph(shuffled, node_bytes, seeds), 2025, depth=depth)
    assert first == again
    assert sum(b for *_, b in first.roots) + sum(b for _, b in first.unresolved) == first.total_bytes == sum(seeds.values())
    parents = defaultdict(set)
    for x in edges:
        if x.parent != x.child:
            parents[x.child].add(x.parent)
    cut = set(first.cycles_cut)
    for root, *_ in first.roots:  # a root has no parent left once cycles are cut
        assert all((p, root) in cut for p in parents[root])


@given(
    st.lists(st.tuples(st.integers(0, 10**9), st.sets(st.integers(0, 7), min_size=1, max_size=6)), min_size=1, max_size=10),
    st.lists(st.integers(0, 5), min_size=8, max_size=8),
    st.booleans(),
)
def test_machine_integers_split_as_python_integers(
    children: list[tuple[int, set[int]]], weights: list[int], ordered: bool
) -> None:
    """The int64 path (one packed sort) and the Python-integer path (lexsort) hand out the same shares, ties included."""
    k = len(children)
    pairs = [(c, k + p) for c, (_, parents) in enumerate(children) for p in sorted(parents)]
    if not ordered:
        random.Random(k).shuffle(pairs)
    child = np.array([c for c, _ in pairs], dtype=np.int64)
    parent = np.array([p for _, p in pairs], dtype=np.int64)
    n = k + 8
    found = []
    for dtype in (np.int64, object):
        amount = np.array([a for a, _ in children] + [0] * 8, dtype=dtype)
        weight = np.array([0] * k + weights, dtype=dtype)
        done = propagate(n, child, parent, weight, amount, np.zeros(n, dtype=np.bool_), np.ones(n, dtype=np.bool_))
        found.append([(i, int(b)) for i, b in done.at_root])
    assert found[0] == found[1]
