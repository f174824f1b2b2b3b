"""Resends are dropped within the horizon; replays of the same message are not resends."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from zettaledger.streams.dedup import DedupWindow, uuid_halves


def sight(window: DedupWindow, event_id: str, partition: int, offset: int, index: int = 0, now_s: int = 0) -> bool:
    """What the accountant does with one event: count it when new or seen before at this very place; remember it if new."""
    key = event_id.lower()
    place = (partition, offset, index, now_s)
    previous = window.find([event_id]).get(key)
    if previous is None:
        window.record({key: place})
        return True
    return previous[:3] == place[:3]


def test_a_resend_at_another_offset_is_a_duplicate() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=10)
    assert sight(window, "e1", partition=0, offset=5, index=0, now_s=100)
    assert not sight(window, "e1", partition=0, offset=9, index=0, now_s=200)


def test_an_id_recorded_again_keeps_the_place_it_was_first_counted_at() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=10)
    window.record({"e1": (0, 5, 0, 100)})
    window.record({"e1": (0, 9, 0, 200), "e2": (0, 9, 1, 200)})
    assert window.find(["e1", "e2"]) == {"e1": (0, 5, 0, 100), "e2": (0, 9, 1, 200)}


def test_the_same_message_replayed_after_a_restart_is_counted_again() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=10)
    window.record({"e1": (0, 5, 3, 100)})
    assert sight(window, "e1", partition=0, offset=5, index=3, now_s=150)
    assert not sight(window, "e1", partition=0, offset=5, index=4, now_s=150)


def test_ids_older_than_the_horizon_are_forgotten() -> None:
    window = DedupWindow(horizon_s=60, max_ids=10)
    sight(window, "old", 0, 1, 0, now_s=0)
    sight(window, "new", 0, 2, 0, now_s=50)
    window.expire(now_s=100)
    assert len(window) == 1
    assert sight(window, "old", 0, 7, 0, now_s=100)  # beyond the horizon: counted again, as documented


def test_the_window_keeps_at_most_max_ids_dropping_the_oldest() -> None:
    window = DedupWindow(horizon_s=10_000, max_ids=3)
    for i in range(5):
        sight(window, f"e{i}", 0, i, 0, now_s=i)
    window.expire(now_s=5)
    assert len(window) == 3
    assert window.forgotten == 2
    assert not sight(window, "e4", 0, 99, 0, now_s=6)


def test_ids_counted_on_the_batch_fast_path_are_forgotten_oldest_first_too() -> None:
    from tests.unit.samples import SAMPLES, batch_of
    from zettaledger.schemas import EventCodec
    from zettaledger.streams.accountant import Accountant, Message

    codec = EventCodec()
    window = DedupWindow(horizon_s=10**9, max_ids=2)
    events = [{**SAMPLES["DataCreated"], "event_id": f"0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c1{i}"} for i in range(3)]
    a = Accountant(codec, window, clock_ms=lambda: 1_795_000_000_000)
    a.committed(a.account([Message("t", 0, 0, codec.encode("EventBatch", batch_of([("DataCreated", e) for e in events])))]))
    window.expire(now_s=1_795_000_000)
    assert len(window) == 2
    assert sight(window, events[0]["event_id"], 0, 99, 0, now_s=1)  # the oldest was forgotten


def _uuid(n: int) -> str:
    return str(uuid.UUID(int=(n * 0x9E3779B97F4A7C15F39CC0605CEDC835) % 2**128, version=4))


def _tied_uuid(n: int) -> str:
    """UUIDs that share their high 64 bits (as time-ordered UUIDs of one millisecond can)."""
    return str(uuid.UUID(int=(7 << 64) + n, version=4))


def test_sealed_ids_are_still_recognised_as_resends_and_replays() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=100, seal_size=4)
    for i in range(10):
        assert sight(window, _uuid(i), partition=0, offset=i, index=0, now_s=100)
    window.seal()  # the recent ids into the arrays
    assert window.sealed == len(window) == 10
    assert not sight(window, _uuid(3), partition=1, offset=50, index=0, now_s=101)  # a resend
    assert sight(window, _uuid(3), partition=0, offset=3, index=0, now_s=101)  # a replay of its message
    assert sight(window, _uuid(3).upper(), partition=0, offset=3, index=0, now_s=101)  # case does not matter
    assert window.find([_uuid(7), _uuid(99)]) == {_uuid(7): (0, 7, 0, 100)}


def test_sealed_ids_are_forgotten_by_age_and_by_count_oldest_first() -> None:
    window = DedupWindow(horizon_s=100, max_ids=6, seal_size=2)
    for i in range(8):
        sight(window, _uuid(i), 0, i, 0, now_s=i)
        window.expire(now_s=i)
    assert len(window) == 6 and window.forgotten == 2
    assert sight(window, _uuid(0), 0, 99, 0, now_s=9)  # the oldest two were forgotten
    assert not sight(window, _uuid(2), 0, 99, 0, now_s=9)
    window.seal()
    window.expire(now_s=105)  # ids seen before second 5 are beyond the horizon now
    assert sorted(window.find([_uuid(i) for i in range(8)])) == sorted(_uuid(i) for i in (0, 5, 6, 7))


def test_ids_that_are_not_uuids_are_kept_apart() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=10, seal_size=1)
    sight(window, "not-a-uuid", 0, 1, 0, now_s=1)
    window.expire(now_s=1)
    assert sight(window, "also-not-a-uuid", 0, 2, 0, now_s=1)
    assert not sight(window, "not-a-uuid", 0, 3, 0, now_s=1)


@settings(max_examples=60, deadline=None)
@given(
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2), st.integers(0, 5), st.booleans()), max_size=120),
)
def test_the_window_answers_like_a_plain_dict_however_it_is_sealed(tied: bool, steps: list[tuple[int, int, int, bool]]) -> None:
    window = DedupWindow(horizon_s=10**6, max_ids=10**6, seal_size=3)
    model: dict[str, tuple[int, int]] = {}
    for n, partition, offset, seal in steps:
        event_id = _tied_uuid(n) if tied else _uuid(n)
        expected = model.setdefault(event_id, (partition, offset)) == (partition, offset)
        assert sight(window, event_id, partition, offset, now_s=10) == expected
        if seal:
            window.expire(now_s=10)
    assert len(window) == len(model)


def test_the_batch_fast_path_finds_resends_among_sealed_ids() -> None:
    from tests.unit.samples import SAMPLES, batch_of
    from zettaledger.schemas import EventCodec
    from zettaledger.streams.accountant import Accountant, Message

    codec = EventCodec()
    window = DedupWindow(horizon_s=10**9, max_ids=100, seal_size=1)
    events = [{**SAMPLES["DataCreated"], "event_id": _uuid(i)} for i in range(3)]
    a = Accountant(codec, window, clock_ms=lambda: 1_795_000_000_000)
    first = a.account([Message("t", 0, 0, codec.encode("EventBatch", batch_of([("DataCreated", e) for e in events])))])
    a.committed(first)
    again = a.account([Message("t", 0, 1, codec.encode("EventBatch", batch_of([("DataCreated", e) for e in events])))])
    assert window.sealed == len(window) == 3  # the first batch's ids were sealed before the second
    assert (first.stats.events, again.stats.events, again.stats.duplicates) == (3, 0, 3)


def test_a_batch_of_ids_converts_like_each_id_alone_even_when_some_are_malformed() -> None:
    good = [_uuid(i) for i in range(4)]
    odd = ["0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c f", "0b0c4f8e-2a55-4b8e-9f44--a3a3f8d6cff", "x" * 36, "short"]
    for ids in (good, good[:2] + odd[:1] + good[2:], [*good, *odd], [good[0].upper(), *odd[1:2]]):
        hi, lo = uuid_halves(ids)
        alone = [uuid_halves([i]) for i in ids]
        assert hi.tolist() == [h[0] for h, _ in alone] and lo.tolist() == [low[0] for _, low in alone]
    assert uuid_halves([good[0].upper()])[0][0] == uuid_halves([good[0]])[0][0]


def test_ids_forgotten_by_count_report_the_stream_time_they_reached() -> None:
    window = DedupWindow(horizon_s=3600, max_ids=32, seal_size=4)
    reported: dict[object, int] = {}
    for i in range(40):
        window.record({f"00000000-0000-4000-8000-{i:012x}": (0, i, 0, 100)}, {("t", 0): 1000 + i})
        for key, t in window.expire(100).items():
            reported[key] = max(reported.get(key, -1), t)
    assert len(window) <= 33
    # the oldest ids went, and with them the promise for event times up to their flushes' stream time
    assert 1000 + 40 - len(window) - 1 <= reported[("t", 0)] < 1000 + 40
    assert window.find(["00000000-0000-4000-8000-000000000000"]) == {}


def test_ids_forgotten_by_age_report_nothing() -> None:
    window = DedupWindow(horizon_s=60, max_ids=10)
    window.record({"00000000-0000-4000-8000-000000000001": (0, 1, 0, 0)}, {("t", 0): 5})
    assert window.expire(10_000) == {}  # past the horizon a resend counts again wherever it is looked up
