"""Statistical disclosure control for a two-way table with its margins. Pure Python, exact integers.

Reporters are the distinct ``producer_id`` s contributing to a cell; a cell's value is the
sum of their contributions. CONF_STATUS codes are SDMX's CL_CONF_STATUS:

==== ===================================================================================
F    Free (free for publication)
A    Primary confidentiality due to small counts (threshold rule: fewer than
     ``min_reporters`` reporters)
O    Primary confidentiality due to dominance by one unit (the largest contribution alone
     exceeds k % of the cell)
T    Primary confidentiality due to dominance by two units (the two largest exceed k %;
     used when n = 2 and no single unit dominates)
M    Primary confidentiality ... other measures of concentration (used for n > 2)
D    Secondary confidentiality set by the sender, not for publication (suppressed only so
     that a primary cell cannot be recovered from the published margins)
==== ===================================================================================

(C, N, S, G, E and X exist in the code list too; we do not set them.)

Secondary suppression works on the table extended by its margins (row totals,
column totals, the grand total; code ``_T``), where every row and every column is one
linear equation "cells = total". A suppressed cell's value can be recovered exactly
from the published ones if and only if it is a *bridge* of the bipartite graph whose
nodes are the rows and columns and whose edges are the suppressed cells (the null space
of that graph's incidence matrix is its cycle space, so a cell is free exactly when it lies
on a cycle). The heuristic, iterated to a fixpoint:

1. every row or column with exactly one suppressed cell gets a second one: the smallest
   non-zero unsuppressed cell of that line (zeros only if nothing else is left);
2. then, if a suppressed cell is still a bridge, the smallest cell that closes a cycle
   through it is suppressed.

This protects against exact recovery. It does not yet protect intervals (a suppressed
cell bounded tightly by non-negativity): the p% rule / audit of tau-argus is the next step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["CONF_MEANINGS", "DEFAULT_RULES", "TOTAL", "Protected", "Rules", "primary_status", "protect_table"]

TOTAL = "_T"  # SDMX's code for a total

CONF_MEANINGS = {
    "F": "Free (free for publication)",
    "A": "Primary confidentiality due to small counts",
    "O": "Primary confidentiality due to dominance by one unit",
    "T": "Primary confidentiality due to dominance by two units",
    "M": "Primary confidentiality due to data declared confidential based on other measures of concentration",
    "D": "Secondary confidentiality set by the sender, not for publication",
}
PRIMARY = frozenset("AOTM")

Cell = tuple[str, str]  # (row code, column code); either may be TOTAL


@dataclass(frozen=True)
class Rules:
    """ZL_DISCLOSURE_MIN_REPORTERS, ZL_DISCLOSURE_DOMINANCE_N, ZL_DISCLOSURE_DOMINANCE_K (percent)."""

    min_reporters: int = 3
    dominance_n: int = 2
    dominance_k: Fraction = Fraction(85)

    def problems(self) -> list[str]:
        out = []
        if self.min_reporters < 1:
            out.append(f"ZL_DISCLOSURE_MIN_REPORTERS={self.min_reporters}: must be >= 1")
        if self.dominance_n < 1:
            out.append(f"ZL_DISCLOSURE_DOMINANCE_N={self.dominance_n}: must be >= 1")
        if not 0 < self.dominance_k <= 100:
            out.append(f"ZL_DISCLOSURE_DOMINANCE_K={self.dominance_k}: must be a percentage in (0, 100]")
        return out


DEFAULT_RULES = Rules()


def primary_status(contributions: Mapping[str, int], rules: Rules = DEFAULT_RULES) -> str:
    """F, or the primary CONF_STATUS of one cell from its reporters' contributions (exact arithmetic)."""
    reporters = len(contributions)
    if 0 < reporters < rules.min_reporters:
        return "A"
    total = sum(contributions.values())
    if total <= 0:
        return "F"
    largest = sorted(contributions.values(), reverse=True)[: rules.dominance_n]
    if 100 * largest[0] > rules.dominance_k * total:
        return "O"
    if 100 * sum(largest) > rules.dominance_k * total:
        return "T" if rules.dominance_n == 2 else "M"
    return "F"


@dataclass(frozen=True)
class Protected:
    """The table with its margins: every value exact, every cell's CONF_STATUS."""

    values: Mapping[Cell, int]
    status: Mapping[Cell, str]

    def published(self, cell: Cell) -> int | None:
        return None if self.status[cell] != "F" else self.values[cell]

    @property
    def suppressed(self) -> frozenset[Cell]:
        return frozenset(c for c, s in self.status.items() if s != "F")


def protect_table(contributions: Mapping[Cell, Mapping[str, int]], rules: Rules = DEFAULT_RULES) -> Protected:
    """Primary then secondary suppression of a rows x columns table (interior cells given; margins derived)."""
    rows = sorted({r for r, _ in contributions})
    cols = sorted({c for _, c in contributions})
    merged: dict[Cell, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (r, c), by in contributions.items():
        if r == TOTAL or c == TOTAL:
            raise ValueError(f"cell {(r, c)}: {TOTAL!r} is reserved for the margins, which are derived")
        for who, v in by.items():
            if v < 0:
                raise ValueError(f"cell {(r, c)}: reporter {who!r} contributes {v}; contributions must be >= 0")
            for cell in ((r, c), (r, TOTAL), (TOTAL, c), (TOTAL, TOTAL)):
                merged[cell][who] += v
    all_rows, all_cols = [*rows, TOTAL], [*cols, TOTAL]
    cells = [(r, c) for r in all_rows for c in all_cols]
    values = {cell: sum(merged[cell].values()) if cell in merged else 0 for cell in cells}
    status = {cell: primary_status(merged.get(cell, {}), rules) for cell in cells}
    lines = [[(r, c) for c in all_cols] for r in all_rows] + [[(r, c) for r in all_rows] for c in all_cols]

    def cheapest(candidates: list[Cell]) -> Cell:
        return min(candidates, key=lambda cell: (values[cell] == 0, values[cell], cell))

    while True:
        changed = False
        for line in lines:
            hidden = [cell for cell in line if status[cell] != "F"]
            if len(hidden) == 1:
                status[cheapest([cell for cell in line if status[cell] == "F"])] = "D"
                changed = True
        if changed:
            continue
        bridge = _a_bridge({cell for cell in cells if status[cell] != "F"})
        if bridge is None:
            break
        side_a, side_b = bridge
        closing = [(r, c) for r in all_rows for c in all_cols if status[(r, c)] == "F" and _links(r, c, side_a, side_b)]
        status[cheapest(closing)] = "D"
    return Protected(values, status)


Node = tuple[str, str]


def _links(r: str, c: str, a: frozenset[Node], b: frozenset[Node]) -> bool:
    return (("r", r) in a and ("c", c) in b) or (("r", r) in b and ("c", c) in a)


def _a_bridge(hidden: set[Cell]) -> tuple[frozenset[Node], frozenset[Node]] | None:
    """The two sides of the first suppressed cell whose removal disconnects its row from its column, if any."""
    edges = sorted(hidden)
    for cell in edges:
        adjacency: dict[Node, set[Node]] = defaultdict(set)
        for r, c in edges:
            if (r, c) != cell:
                adjacency[("r", r)].add(("c", c))
                adjacency[("c", c)].add(("r", r))
        side_a = _reach(("r", cell[0]), adjacency)
        if ("c", cell[1]) not in side_a:
            return frozenset(side_a), frozenset(_reach(("c", cell[1]), adjacency))
    return None


def _reach(start: Node, adjacency: Mapping[Node, set[Node]]) -> set[Node]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in adjacency.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def recoverable(protected: Protected) -> set[Cell]:
    """Suppressed cells an adversary can compute exactly from the published cells: exact Gaussian elimination.

    Independent of the graph argument above, so tests check the algorithm against it.
    """
    hidden = sorted(protected.suppressed)
    index = {cell: i for i, cell in enumerate(hidden)}
    rows = sorted({r for r, _ in protected.values})
    cols = sorted({c for _, c in protected.values})
    equations: list[list[Fraction]] = []
    inner_rows = [r for r in rows if r != TOTAL]
    inner_cols = [c for c in cols if c != TOTAL]
    # For each row r (total row included): sum over inner columns - row total = 0; likewise per column.
    lines = [([(r, c) for c in inner_cols], (r, TOTAL)) for r in rows] + [
        ([(r, c) for r in inner_rows], (TOTAL, c)) for c in cols
    ]
    for parts, total in lines:
        coef = [Fraction(0)] * (len(hidden) + 1)
        for cell, sign in [*((p, 1) for p in parts), (total, -1)]:
            if cell in index:
                coef[index[cell]] += sign
            else:
                coef[-1] -= sign * protected.values[cell]
        if any(coef[:-1]):
            equations.append(coef)
    # Reduced row echelon form; a hidden cell is determined when a row has it as its only unknown.
    pivots: list[int] = []
    m = equations
    row = 0
    for col in range(len(hidden)):
        pivot = next((i for i in range(row, len(m)) if m[i][col] != 0), None)
        if pivot is None:
            continue
        m[row], m[pivot] = m[pivot], m[row]
        m[row] = [x / m[row][col] for x in m[row]]
        for i in range(len(m)):
            if i != row and m[i][col] != 0:
                factor = m[i][col]
                m[i] = [a - factor * b for a, b in zip(m[i], m[row], strict=True)]
        pivots.append(col)
        row += 1
    found = set()
    for i, col in enumerate(pivots):
        if all(m[i][j] == 0 for j in range(len(hidden)) if j != col):
            found.add(hidden[col])
    return found
