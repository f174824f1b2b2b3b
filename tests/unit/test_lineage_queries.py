"""Walks and attribution on graphs in memory: bounded, cycle-proof, exact to the byte, independent of edge order."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from zettaledger.sinks.lineage_queries import Edge, apportion, attribute, walk


class MemoryGraph:
    def __init__(
        self, edges: Sequence[Edge], node_bytes: dict[str, int], seeds: dict[str, int], sources: dict[str, str] | None = None
    ) -> None:
        self.edges = list(edges)
        self.bytes = node_bytes
        self.seed = seeds
        self.src = sources or {}
        self.queries = 0

    def parents(self, ids: Sequence[str]) -> list[Edge]:
        self.queries += 1
        wanted = set(ids)
        return [e for e in self.edges if e.child in wanted]

    def children(self, ids: Sequence[str]) -> list[Edge]:
        self.queries += 1
        wanted = set(ids)
        return [e for e in self.edges if e.parent in wanted]

    def node_bytes(self, ids: Sequence[str]) -> dict[str, int]:
        return {i: self.bytes.get(i, 0) for i in ids}

    def sources(self, ids: Sequence[str]) -> dict[str, str]:
        return {i: self.src.get(i, "OTHER") for i in ids}

    def seeds(self, year: int, source: str | None) -> dict[str, int]:
        return dict(self.seed)


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
    node_bytes = {x: draw(st.integers(0, 2**80)) for x in names}
    seeds = {x: draw(st.integers(0, 2**80)) for x in draw(st.lists(st.sampled_from(names), max_size=n, unique=True))}
    return edges, node_bytes, seeds


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
