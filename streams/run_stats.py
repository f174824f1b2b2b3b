"""What one worker process did, printed as one JSON line when it stops (the fault suite and the bench read it)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zettaledger.telemetry import current_rss_mb

__all__ = ["RunStats"]

_MAX_LATENCY_SAMPLES = 100_000  # a sample is enough for percentiles; memory stays flat
_MAX_RSS_SAMPLES = 2_000


@dataclass
class RunStats:
    flushes: int = 0
    events: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0
    replayed_messages: int = 0
    write_retries: int = 0
    dead_letter_retries: int = 0
    dead_letters_shrunk: int = 0  # refused by the broker as they were, sent again in their shortest form
    dead_letters_undelivered: int = 0  # refused in every form: recorded in the ledger instead (kind 'rejected')
    conflicts: int = 0  # flushes re-planned because another worker had written their offsets
    fenced_flushes: int = 0  # inserts ClickHouse dropped for another writer's with the same start (the storage's fence)
    old_event_lookups: int = 0  # event ids looked up in seen_events: older than what the dedup window vouches for
    ambiguous_writes_found_stored: int = 0
    injected: dict[str, int] = field(default_factory=dict)  # failpoints that fired (the fault suite's)
    started_at: float = field(default_factory=time.monotonic, repr=False)  # when the worker process began
    first_flush_s: float = 0.0  # seconds from start to the first flush written: start-up, whatever the horizon
    # Monotonic seconds. Busy time runs from the first message taken off the events topic (or,
    # without one, the first batch) to the last flush written, less idle_seconds.
    first_arrival_at: float = 0.0
    last_arrival_at: float = 0.0
    first_batch_at: float = 0.0
    last_flush_at: float = 0.0
    # Waiting for messages with nothing to do: from the last message (or the last write, if
    # later) to a take cut by its time limit with no write in flight. The end of a finite
    # topic is such a wait, ZL_BATCH_WITHIN_S long: latency, not work.
    idle_seconds: float = 0.0
    latencies_ms: list[int] = field(default_factory=list, repr=False)  # produced (Kafka timestamp) -> written
    # (events counted so far, RSS in MB) after each flush, thinned to stay small:
    # shows whether memory grows with the stream or levels off.
    rss_samples: list[tuple[int, float]] = field(default_factory=list, repr=False)

    def arrived(self, value: object) -> object:
        """A message taken off the stream (a Faust processor: returns it as it came)."""
        self.last_arrival_at = now = time.monotonic()
        if not self.first_arrival_at:
            self.first_arrival_at = now
        return value

    def take_cut(self, writing: bool) -> None:
        """A take was handed over; the wait before it counts as idle unless a write was in flight."""
        now = time.monotonic()
        if not self.first_batch_at:
            self.first_batch_at = now
        if not writing and self.last_arrival_at:
            self.idle_seconds += max(0.0, now - max(self.last_arrival_at, self.last_flush_at))

    def busy_seconds(self) -> float:
        start = self.first_arrival_at or self.first_batch_at
        return max(self.last_flush_at - start - self.idle_seconds, 0.0)

    def sample_rss(self) -> None:
        self.rss_samples.append((self.events, round(current_rss_mb(), 1)))
        if len(self.rss_samples) >= _MAX_RSS_SAMPLES:
            del self.rss_samples[::2]

    def sample_latency(self, written_ms: int, produced_ms: Sequence[int]) -> None:
        if len(self.latencies_ms) < _MAX_LATENCY_SAMPLES:
            self.latencies_ms.extend(written_ms - t for t in produced_ms[:1000] if t)

    def summary(self) -> dict[str, Any]:
        hidden = (
            "latencies_ms",
            "first_arrival_at",
            "last_arrival_at",
            "first_batch_at",
            "last_flush_at",
            "rss_samples",
            "started_at",
        )
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in hidden}
        out["idle_seconds"] = round(self.idle_seconds, 3)
        out["busy_seconds"] = round(self.busy_seconds(), 3)
        if self.latencies_ms:
            ordered = sorted(self.latencies_ms)
            out["latency_p50_ms"] = ordered[len(ordered) // 2]
            out["latency_p99_ms"] = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
        if self.rss_samples and self.events:
            # RSS after a tenth, a quarter, half, three quarters and all of the events: level when memory is flat.
            out["rss_mb_along_stream"] = {
                f"{share:.0%}": next(rss for n, rss in self.rss_samples if n >= share * self.events)
                for share in (0.1, 0.25, 0.5, 0.75, 1.0)
            }
        return out
