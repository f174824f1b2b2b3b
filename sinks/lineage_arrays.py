"""The lineage graph as integer arrays: breadth-first levels and exact attribution, in numpy. Pure.

Datasets are numbered 0..n-1 in the order of their ids, so "the smaller id" is "the smaller
number" everywhere below (ties, cuts, budgets). An edge is a pair of numbers ``near -> far``:
``near`` is the dataset whose edge list it belongs to (the child for an upstream walk, the
parent for a downstream one). A graph fetched from ClickHouse holds only the edge lists of the
datasets it *expanded*; asking for the edges of another is a bug in the fetch, not a short
answer, and raises ``IncompleteFetch``.

Why arrays: an attribution of one year on a graph of 1e6 datasets visits ~250k datasets and
~800k edges; per-edge Python objects and a per-node Python split cost seconds, and one pass of
numpy per level costs milliseconds. Sums stay exact: amounts and weights are int64 when the
year's total times the largest weight fits (checked, not assumed), and Python integers
(numpy object arrays, same code) otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Amounts",
    "IncompleteFetch",
    "Ints",
    "Levels",
    "Propagation",
    "distinct",
    "exact_dtype",
    "largest_remainder",
    "levels",
    "propagate",
    "require_expanded",
]

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Amounts = npt.NDArray[np.object_] | npt.NDArray[np.int64]
_INT64_ROOM = 2**62  # products and sums below this stay exact in int64, with room to spare


class IncompleteFetch(AssertionError):
    """A walk reached a dataset whose edges were not fetched: the fetch broke its contract."""


def _csr(n: int, near: Ints, far: Ints) -> tuple[Ints, Ints, Ints]:
    """Edges grouped by ``near``: (start of each dataset's group, far ends in group order, edge order)."""
    order = np.argsort(near, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(near, minlength=n), out=ptr[1:])
    return ptr, far[order], order


def _ranges(ptr: Ints, nodes: Ints) -> Ints:
    """Positions of the edges of ``nodes`` in CSR order, each node's edges together, in the order of ``nodes``."""
    lo, hi = ptr[nodes], ptr[nodes + 1]
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.repeat(lo - starts, counts) + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class Levels:
    """``level[i]``: the breadth-first level of dataset i (-1: not reached); ``budget_cut``: a new
    dataset was left out because the budget was spent."""

    level: npt.NDArray[np.int32]
    budget_cut: bool


def levels(n: int, near: Ints, far: Ints, expanded: Bools, starts: Ints, depth: int, budget: int) -> Levels:
    """Breadth-first from ``starts`` along ``near -> far``, at most ``depth`` levels and ``budget`` datasets.

    The one rule of every walk and of the attribution's ancestry: level by level, a dataset is
    visited once (at its first level, so a cycle cannot loop); a level's new datasets are taken
    in the order of their ids while the budget lasts. The datasets of the last level reached
    (``depth``) are visited but not expanded.
    """
    ptr, far_by_near, _ = _csr(n, near, far)
    level = np.full(n, -1, dtype=np.int32)
    frontier = distinct(starts)
    level[frontier] = 0
    visited = int(frontier.size)
    cut = False
    seen = np.zeros(n, dtype=np.bool_)
    for step in range(1, depth + 1):
        if frontier.size == 0:
            break
        require_expanded(expanded, frontier)
        seen[far_by_near[_ranges(ptr, frontier)]] = True
        new = np.flatnonzero(seen & (level < 0))  # in number order: id order
        seen[:] = False
        room = max(budget - visited, 0)
        if new.size > room:
            cut = True
            new = new[:room]
        level[new] = step
        visited += int(new.size)
        frontier = new
    return Levels(level, cut)


def distinct(values: Ints) -> Ints:
    """The distinct values, in order (a sort: numpy's hashing ``unique`` is several times slower on ~1e6 int64)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def require_expanded(expanded: Bools, nodes: Ints) -> None:
    if nodes.size and not bool(expanded[nodes].all()):
        missing = int(nodes[~expanded[nodes]][0])
        raise IncompleteFetch(f"the edges of dataset #{missing} were needed but not fetched")


def exact_dtype(total: int, weights: Amounts) -> type:
    """int64 when every share ``amount * weight`` and every sum of weights fits in it, else ``object`` (Python ints)."""
    try:
        machine = weights.astype(np.int64)
    except OverflowError:
        return object
    largest = int(machine.max()) if machine.size else 0
    summed = float(machine.sum(dtype=np.float64))  # a bound: compared with half the room, rounding cannot matter
    return np.int64 if total * max(largest, 1) < _INT64_ROOM and summed < _INT64_ROOM / 2 else object


@dataclass(frozen=True)
class Propagation:
    """Where the amounts ended, largest first (ties in number order): at roots, or unresolved at bounded
    datasets, as (number, amount); and the edges cut to break cycles, as (parent, child)."""

    at_root: list[tuple[int, int]]
    unresolved: list[tuple[int, int]]
    cycles_cut: tuple[tuple[int, int], ...]


def propagate(
    n: int, child: Ints, parent: Ints, weight: Amounts, amount: Amounts, bounded: Bools, taking_part: Bools
) -> Propagation:
    """Hand each dataset's amount to its parents, each dataset once, after all its children.

    ``child -> parent`` are distinct edges without self-loops between datasets that take part.
    A dataset's amount (its own plus what its children handed it) goes: to ``unresolved`` if it
    is ``bounded`` (a bound hid some of its parents); to ``at_root`` if it has no parents; else to
    its parents in proportion to their ``weight`` (equal shares when all weigh 0), integer shares
    ``floor(amount * w / W)`` with the bytes left over given one each to the largest remainders
    (ties to the smaller id): the largest-remainder method, so every split adds up to the byte.
    Datasets ready together (no child left unfinished) are split together, which gives the same
    result as one at a time: a split depends only on the dataset's own total. When none is ready
    (a cycle), the unfinished dataset with the smallest id has its edges from unfinished children
    cut, and goes on: each byte is still handed on exactly once.
    """
    amount = amount.copy()
    c_ptr, parent_of, by_child = _csr(n, child, parent)
    child_of = child[by_child]
    by_parent: tuple[Ints, Ints] | None = None  # the edges grouped by parent: built at the first cycle, if any (~35 ms)
    active = np.ones(parent_of.size, dtype=np.bool_)
    children_left = np.bincount(parent_of, minlength=n)
    done = ~taking_part
    ready = np.flatnonzero(taking_part & (children_left == 0))
    roots: list[Ints] = []  # each dataset is done once, its amount final by then: kept by number, read at the end
    stopped: list[Ints] = []
    cut: list[tuple[int, int]] = []
    while True:
        if ready.size == 0:
            rest = np.flatnonzero(~done)
            if rest.size == 0:
                break
            stuck = int(rest[0])  # the smallest id: a cycle, cut where it is entered from unfinished children
            if by_parent is None:
                p_ptr, edge_of_parent, _ = _csr(n, parent_of, np.arange(parent_of.size, dtype=np.int64))
                by_parent = (p_ptr, edge_of_parent)
            p_ptr, edge_of_parent = by_parent
            edges = edge_of_parent[p_ptr[stuck] : p_ptr[stuck + 1]]
            edges = edges[active[edges] & ~done[child_of[edges]]]
            active[edges] = False
            cut.extend((stuck, int(c)) for c in np.sort(child_of[edges]))
            children_left[stuck] = 0
            ready = np.array([stuck], dtype=np.int64)
        done[ready] = True
        edges = _ranges(c_ptr, ready)
        edges = edges[active[edges]]
        owner, to = child_of[edges], parent_of[edges]
        has_parent = np.zeros(n, dtype=np.bool_)
        has_parent[owner] = True
        stopped.append(ready[bounded[ready]])
        roots.append(ready[~bounded[ready] & ~has_parent[ready]])
        splits = ~bounded[owner] & (amount[owner] > 0)
        if splits.any():
            _split(amount, owner[splits], to[splits], weight)
        np.subtract.at(children_left, to, 1)
        touched = np.zeros(n, dtype=np.bool_)
        touched[to] = True
        ready = np.flatnonzero(touched & (children_left == 0) & ~done)

    def where(found: list[Ints]) -> list[tuple[int, int]]:
        at = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        at = at[amount[at] > 0]
        if amount.dtype != object:  # largest first, ties by number, sorted by numpy
            at = at[np.lexsort((at, -amount[at]))]
            return list(zip(at.tolist(), amount[at].tolist(), strict=True))
        return sorted(zip(at.tolist(), amount[at].tolist(), strict=True), key=lambda t: (-t[1], t[0]))

    return Propagation(where(roots), where(stopped), tuple(cut))


def largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    """``amount`` split over ``weights`` (in order; ties to the earlier) by the largest-remainder rule of ``propagate``."""
    owner = np.zeros(len(weights), dtype=np.int64)
    to = np.arange(1, len(weights) + 1, dtype=np.int64)
    held = np.array([amount, *(0 for _ in weights)], dtype=object)
    _split(held, owner, to, np.array([0, *weights], dtype=object))
    return [int(x) for x in held[1:]]


def _split(amount: Amounts, owner: Ints, to: Ints, weight: Amounts) -> None:
    """Largest-remainder split of ``amount[o]`` over the edges ``o -> to`` (each owner's edges together, in id order)."""
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sizes = np.diff(np.r_[starts, owner.size])
    segment = np.repeat(np.arange(starts.size), sizes)
    w = weight[to]
    total = np.add.reduceat(w, starts)
    unweighted = total == 0  # no parent has bytes: equal shares
    if unweighted.any():
        w = w.copy()
        w[unweighted[segment]] = 1
        total = np.where(unweighted, sizes, total).astype(w.dtype)
    a = amount[owner]
    product = a * w
    share = product // total[segment]
    rest = product % total[segment]
    left = amount[owner[starts]] - np.add.reduceat(share, starts)
    order = _by_remainder(segment, rest, to)
    rank = np.arange(order.size) - starts[segment[order]]
    bonus = order[rank < left[segment[order]]]
    share[bonus] += 1
    np.add.at(amount, to, share)


def _by_remainder(segment: Ints, rest: Amounts, to: Ints) -> Ints:
    """The order of ``_split``'s edges: by owner (``segment``, ascending), then largest remainder, then smaller id.

    A three-key ``lexsort`` costs ~0.25 s on the ~800k edges of one year's attribution. When the ids already
    ascend within each owner (the attribution's edges are distinct pairs in (child, parent) order) and owner and
    remainder pack into one int64, one stable sort of the packed key gives the same order in ~15 ms (its runs are
    long: owners ascend)."""
    if rest.dtype == np.int64 and rest.size > 1:
        top = int(rest.max()) + 1
        ascending = bool(np.all((to[1:] > to[:-1]) | (segment[1:] != segment[:-1])))
        if ascending and (int(segment[-1]) + 1) * top < _INT64_ROOM:
            return np.argsort(segment * top + (top - 1 - rest), kind="stable")
    return np.lexsort((to, -rest, segment))
