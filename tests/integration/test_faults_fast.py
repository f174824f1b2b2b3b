"""The fast subset of the fault suite (`make faults` runs all eleven scenarios at full size).

Each scenario counts the ledger against truth read back from the input topic:
no event lost, none counted twice, every offset covered exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import harness
from tests.faults import scenarios

pytestmark = pytest.mark.integration


@pytest.fixture
def fault_root(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    harness.cleanup_all()


@pytest.mark.parametrize(
    ("name", "run"),
    [
        ("baseline", lambda root: scenarios.baseline(root, n=10_000)),
        ("one SIGKILL", lambda root: scenarios.kills(root, n=10_000, kills_n=1)),
        ("poison", lambda root: scenarios.poison(root, n=10_000)),
        ("producer duplicates", lambda root: scenarios.duplicates(root, n=10_000)),
    ],
)
def test_a_fault_leaves_the_ledger_exact(name: str, run: Callable[[Path], scenarios.Result], fault_root: Path) -> None:
    result = run(fault_root)
    print("\n" + result.line())
    assert result.comparison.lost == 0
    assert result.comparison.duplicated == 0
    assert (result.comparison.gaps, result.comparison.overlaps) == (0, 0)
    assert result.ok, result.line()
