"""A take holds about ZL_TAKE_MAX_BYTES of payload, whatever the message size."""

from __future__ import annotations

from zettaledger.streams.take import TakeLimit


def test_the_first_take_is_small_until_a_size_is_known() -> None:
    limit = TakeLimit(max_messages=2000, max_bytes=64 << 20)
    assert limit <= 256 and not limit <= 255  # Faust's own comparison: len(buffer) >= max_


def test_small_messages_are_taken_by_the_thousand_and_large_ones_by_size() -> None:
    limit = TakeLimit(max_messages=2000, max_bytes=64 << 20)
    limit.observe([250] * 256)
    assert int(limit) == 2000
    for _ in range(6):  # smoothed: it settles over a few takes
        limit.observe([170_000] * int(limit))
    assert 390 <= int(limit) <= 420  # 64 MiB of 170 KB messages


def test_the_count_setting_still_caps_it() -> None:
    limit = TakeLimit(max_messages=5, max_bytes=64 << 20)
    assert limit <= 5 and not limit <= 4
    limit.observe([10] * 5)
    assert int(limit) == 5


def test_the_worker_reports_memory_along_the_stream() -> None:
    from zettaledger.streams.run_stats import RunStats

    stats = RunStats()
    for step in range(1, 11):
        stats.events = step * 100
        stats.sample_rss()
    along = stats.summary()["rss_mb_along_stream"]
    assert list(along) == ["10%", "25%", "50%", "75%", "100%"]
    assert all(mb > 0 for mb in along.values())
