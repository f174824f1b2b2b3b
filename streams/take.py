"""How many messages the ingest agent takes at once: a count that follows message size.

Faust's ``take_events(max_, within)`` bounds a take by a message count. One count
does not fit both shapes of traffic: single events (~250 bytes) want thousands of
messages a take, or the fixed cost of each flush dominates; ``EventBatch``
messages (~170 KB for 1,000 events) at that count hold hundreds of megabytes.
``TakeLimit`` is passed as ``max_``: Faust compares ``len(buffer) >= max_`` as
each message arrives, and this object answers from the average message size of
earlier takes, so a take holds about ``max_bytes`` of payload and never more
than ``max_messages`` messages. The first take is held to ``first_messages`` until
a size is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["TakeLimit"]


class TakeLimit:
    def __init__(self, max_messages: int, max_bytes: int, first_messages: int = 256) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.current = max(1, min(first_messages, max_messages))
        self._average_size: float | None = None

    def observe(self, sizes: Sequence[int]) -> None:
        """Learn from the payload sizes of a take; the next takes are sized from them."""
        if not sizes:
            return
        average = sum(sizes) / len(sizes)
        # Smoothed, so one odd take does not swing the next one.
        self._average_size = average if self._average_size is None else 0.5 * self._average_size + 0.5 * average
        fits = int(self.max_bytes / max(self._average_size, 1.0))
        self.current = max(1, min(self.max_messages, fits))

    # Faust evaluates ``len(buffer) >= max_``; int defers to the reflected ``max_ <= len(buffer)``.
    def __le__(self, count: Any) -> bool:
        return bool(count >= self.current)

    def __int__(self) -> int:
        return self.current

    def __repr__(self) -> str:
        return f"TakeLimit({self.current} of at most {self.max_messages} messages, ~{self.max_bytes} bytes)"
