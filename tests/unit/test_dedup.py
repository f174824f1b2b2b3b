"""Resends are dropped within the horizon; replays of the same message are not resends."""

from __future__ import annotations

from streams.dedup import DedupWindow, Sighting


def test_a_resend_at_another_offset_is_a_duplicate() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=10)
    assert window.first_sighting("e1", partition=0, offset=5, index=0, now_s=100)
    assert not window.first_sighting("e1", partition=0, offset=9, index=0, now_s=200)
    assert window.hits == 1


def test_the_same_message_replayed_after_a_restart_is_counted_again() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=10)
    window.load([("e1", Sighting(0, 5, 3, 100))])
    assert window.first_sighting("e1", partition=0, offset=5, index=3, now_s=150)
    assert not window.first_sighting("e1", partition=0, offset=5, index=4, now_s=150)


def test_ids_older_than_the_horizon_are_forgotten() -> None:
    window = DedupWindow(horizon_s=60, max_ids=10)
    window.first_sighting("old", 0, 1, 0, now_s=0)
    window.first_sighting("new", 0, 2, 0, now_s=50)
    window.expire(now_s=100)
    assert len(window) == 1
    assert window.first_sighting("old", 0, 7, 0, now_s=100)  # beyond the horizon: counted again, as documented


def test_the_window_keeps_at_most_max_ids_dropping_the_oldest() -> None:
    window = DedupWindow(horizon_s=10_000, max_ids=3)
    for i in range(5):
        window.first_sighting(f"e{i}", 0, i, 0, now_s=i)
    window.expire(now_s=5)
    assert len(window) == 3
    assert window.forgotten == 2
    assert not window.first_sighting("e4", 0, 99, 0, now_s=6)


def test_ids_counted_on_the_batch_fast_path_are_forgotten_oldest_first_too() -> None:
    from schemas import EventCodec
    from streams.accountant import Accountant, Message
    from tests.unit.samples import SAMPLES, batch_of

    codec = EventCodec()
    window = DedupWindow(horizon_s=10**9, max_ids=2)
    events = [{**SAMPLES["DataCreated"], "event_id": f"0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c1{i}"} for i in range(3)]
    a = Accountant(codec, window, clock_ms=lambda: 1_795_000_000_000)
    a.account([Message("t", 0, 0, codec.encode("EventBatch", batch_of([("DataCreated", e) for e in events])))])
    window.expire(now_s=1_795_000_000)
    assert len(window) == 2
    assert window.first_sighting(events[0]["event_id"], 0, 99, 0, now_s=1)  # the oldest was forgotten
