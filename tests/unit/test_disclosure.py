"""Disclosure control: the threshold and (n,k) dominance rules, and secondary suppression that keeps
every primary cell unrecoverable from the published margins (checked by exact linear algebra)."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from zettaledger.statistics.disclosure import TOTAL, Cell, Rules, primary_status, protect_table, recoverable


def test_threshold_rule_marks_cells_with_fewer_than_three_reporters() -> None:
    assert primary_status({"a": 10, "b": 10}) == "A"
    assert primary_status({"a": 10, "b": 10, "c": 10}) == "F"
    assert primary_status({}) == "F"  # nobody reported: an empty cell discloses nobody
    assert primary_status({"a": 1, "b": 1}, Rules(min_reporters=2)) == "T"  # past the threshold, two units are 100 %
    assert primary_status({"a": 1, "b": 1}, Rules(min_reporters=2, dominance_k=Fraction(100))) == "F"


def test_dominance_one_unit_is_o_two_units_is_t_and_the_boundary_is_strict() -> None:
    assert primary_status({"a": 86, "b": 7, "c": 7}) == "O"  # one unit alone exceeds 85 %
    assert primary_status({"a": 60, "b": 26, "c": 14}) == "T"  # two units together: 86 %
    assert primary_status({"a": 60, "b": 25, "c": 15}) == "F"  # exactly 85 % does not exceed
    assert primary_status({"a": 50, "b": 30, "c": 10, "d": 10}, Rules(dominance_n=3, dominance_k=Fraction(85))) == "M"


def test_dominance_is_exact_beyond_float_precision() -> None:
    big = 10**24
    # 85 % + 1 byte: float64 cannot see the byte, exact arithmetic must.
    one = Rules(dominance_n=1)
    assert primary_status({"a": big * 85 // 100 + 1, "b": big * 15 // 100 - 1 - 2, "c": 2}, one) == "O"
    assert primary_status({"a": big * 85 // 100, "b": big * 15 // 100 - 2, "c": 2}, one) == "F"
    assert float(big * 85 // 100 + 1) == float(big * 85 // 100)  # what a float-based rule would have compared


# A region x source table with one dominated cell and one small cell.
#            AI                 IOT                  TRAINING
# CN-BJ  [dominant: O]        3 reporters          3 reporters
# CN-SH  3 reporters          [2 reporters: A]     3 reporters
# CN-GD  3 reporters          3 reporters          3 reporters
def _three(a: int, b: int, c: int) -> dict[str, int]:
    return {"x": a, "y": b, "z": c}


TABLE: dict[Cell, dict[str, int]] = {
    ("CN-BJ", "AI"): {"big": 900, "s1": 50, "s2": 50},
    ("CN-BJ", "IOT"): _three(100, 100, 100),
    ("CN-BJ", "TRAINING"): _three(40, 40, 40),
    ("CN-SH", "AI"): _three(200, 200, 200),
    ("CN-SH", "IOT"): {"p": 30, "q": 30},
    ("CN-SH", "TRAINING"): _three(30, 30, 30),
    ("CN-GD", "AI"): _three(300, 300, 300),
    ("CN-GD", "IOT"): _three(500, 500, 500),
    ("CN-GD", "TRAINING"): _three(20, 20, 20),
}


def test_known_table_primary_and_secondary_exactly() -> None:
    p = protect_table(TABLE)
    assert p.status[("CN-BJ", "AI")] == "O"
    assert p.status[("CN-SH", "IOT")] == "A"
    # Secondary, by hand: the BJ row's lone O takes its smallest other cell, TRAINING (120); the SH row's lone A
    # takes TRAINING (90). Then the AI column holds only BJ: its smallest other cell is SH (600); the IOT column
    # holds only SH: its smallest other is BJ (300). {BJ, SH} x {AI, IOT, TRAINING} has no lone cell and no bridge.
    assert {c for c, s in p.status.items() if s == "D"} == {
        ("CN-BJ", "TRAINING"),
        ("CN-SH", "TRAINING"),
        ("CN-SH", "AI"),
        ("CN-BJ", "IOT"),
    }
    # Margins are exact sums of everything, suppressed cells included.
    assert p.values[("CN-BJ", TOTAL)] == 1000 + 300 + 120
    assert p.values[(TOTAL, TOTAL)] == sum(sum(v.values()) for v in TABLE.values())
    assert all(p.status[c] == "F" for c in p.values if TOTAL in c)
    _assert_protected(p)


def _assert_protected(p: object) -> None:
    from zettaledger.statistics.disclosure import Protected

    assert isinstance(p, Protected)
    assert recoverable(p) == set(), f"recoverable from the margins: {recoverable(p)}"
    for r in {r for r, _ in p.values}:
        line = [c for c in p.suppressed if c[0] == r]
        assert len(line) != 1, f"row {r} has a lone suppressed cell"
    for col in {c for _, c in p.values}:
        line = [c for c in p.suppressed if c[1] == col]
        assert len(line) != 1, f"column {col} has a lone suppressed cell"


def test_the_checker_catches_a_recoverable_cell() -> None:
    """Suppress one cell alone in its row: the margins give it away, and ``recoverable`` must say so."""
    from zettaledger.statistics.disclosure import Protected

    p = protect_table(
        {("a", "x"): _three(1, 1, 1), ("a", "y"): _three(2, 2, 2), ("b", "x"): _three(3, 3, 3), ("b", "y"): _three(4, 4, 4)}
    )
    leaky = Protected(p.values, {**p.status, ("a", "x"): "A"})
    assert recoverable(leaky) == {("a", "x")}
    # Two cells in a row but a bridge between two otherwise separate rectangles is recoverable too.
    bridge = Protected(p.values, {**p.status, ("a", "x"): "A", ("a", "y"): "D"})
    assert recoverable(bridge) == {("a", "x"), ("a", "y")}


_cells = st.dictionaries(
    keys=st.tuples(st.sampled_from(["r1", "r2", "r3", "r4"]), st.sampled_from(["c1", "c2", "c3"])),
    values=st.dictionaries(st.sampled_from(["p1", "p2", "p3", "p4", "p5"]), st.integers(0, 10**24), min_size=1, max_size=5),
    min_size=2,
)


@settings(max_examples=150, deadline=None)
@given(_cells)
def test_property_primary_cells_stay_suppressed_margins_are_exact_and_nothing_is_recoverable(
    table: dict[Cell, dict[str, int]],
) -> None:
    p = protect_table(table)
    for cell, by in table.items():
        assert p.values[cell] == sum(by.values())
        primary = primary_status(by)
        if primary != "F":
            assert p.status[cell] == primary
    rows = {r for r, _ in table}
    for r in rows:
        assert p.values[(r, TOTAL)] == sum(sum(by.values()) for (rr, _), by in table.items() if rr == r)
    assert p.values[(TOTAL, TOTAL)] == sum(sum(by.values()) for by in table.values())
    _assert_protected(p)
