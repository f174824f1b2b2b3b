"""Busy time: from the first message to the last flush, less the waits for messages with nothing to do."""

from __future__ import annotations

import types

import pytest

from zettaledger.streams import run_stats
from zettaledger.streams.run_stats import RunStats


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(run_stats, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def at(clock: list[float], t: float) -> None:
    clock[0] = t


def test_the_wait_at_the_end_of_a_finite_topic_is_idle_not_busy(clock: list[float]) -> None:
    stats = RunStats()
    for t in (1.0, 1.5, 2.0):
        at(clock, t)
        stats.arrived(b"message")
    at(clock, 3.0)  # the take waited ZL_BATCH_WITHIN_S for messages that never came
    stats.take_cut(writing=False)
    stats.last_flush_at = 3.25

    assert stats.idle_seconds == pytest.approx(1.0)
    assert stats.busy_seconds() == pytest.approx(3.25 - 1.0 - 1.0)
    assert stats.summary()["busy_seconds"] == pytest.approx(1.25)


def test_a_wait_while_a_write_is_in_flight_is_busy(clock: list[float]) -> None:
    stats = RunStats()
    at(clock, 1.0)
    stats.arrived(b"message")
    at(clock, 2.0)
    stats.take_cut(writing=True)
    stats.last_flush_at = 2.5

    assert stats.idle_seconds == 0.0
    assert stats.busy_seconds() == pytest.approx(1.5)


def test_idle_starts_when_the_last_write_ended_if_it_ended_after_the_last_message(clock: list[float]) -> None:
    stats = RunStats()
    at(clock, 1.0)
    stats.arrived(b"message")
    stats.last_flush_at = 1.75  # the previous take's write ended after the last message came
    at(clock, 2.0)
    stats.take_cut(writing=False)

    assert stats.idle_seconds == pytest.approx(0.25)


def test_a_take_cut_when_full_right_after_its_last_message_adds_no_idle(clock: list[float]) -> None:
    stats = RunStats()
    at(clock, 1.0)
    stats.arrived(b"message")
    stats.take_cut(writing=False)

    assert stats.idle_seconds == 0.0
    assert stats.first_batch_at == 1.0
