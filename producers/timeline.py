"""Event time for the generator: epoch milliseconds, UTC days, and random times within a span."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Final

__all__ = ["DAY_MS", "EPOCH", "day_weight", "ms", "sorted_times", "utc_day"]

DAY_MS: Final = 86_400_000
EPOCH: Final = date(1970, 1, 1)


def ms(day: date) -> int:
    """Epoch milliseconds at the start of ``day`` (UTC)."""
    return (day - EPOCH).days * DAY_MS


def utc_day(time_ms: int) -> date:
    """The UTC day that holds ``time_ms``."""
    return EPOCH + timedelta(time_ms // DAY_MS)


def day_weight(day: date) -> float:
    """Relative activity of ``day``: it rises through the year and dips at weekends."""
    ramp = 1.0 + 0.3 * (day.timetuple().tm_yday / 366)
    return ramp * (0.9 if day.weekday() >= 5 else 1.0)


def sorted_times(rng: random.Random, count: int, start_ms: int, span_ms: int) -> list[int]:
    """``count`` times drawn uniformly from [start_ms, start_ms + span_ms), in order."""
    return sorted(start_ms + int(rng.random() * span_ms) for _ in range(count))
