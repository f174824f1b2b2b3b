"""The fast subset of `make security` (tests/security): the ledger host's cases and a few crafted Kafka values."""

from __future__ import annotations

import pytest

from tests.security.run import FAST, run_cases, summary

pytestmark = pytest.mark.integration


def test_hostile_input_fast_subset(kafka_bootstrap: str) -> None:
    outcomes = run_cases(FAST)
    line = summary(outcomes)
    assert all(o.passed for o in outcomes), "\n".join([*(o.line() for o in outcomes if not o.passed), line])
    assert line.endswith("crashes=0 forged_writes=0 lost=0")
