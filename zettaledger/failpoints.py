"""Deterministic fault injection for the fault suite (``make faults``). Off unless ZL_FAILPOINTS is set.

Production code calls ``hit(name)`` at the points where a crash or a failure
teaches us something; with ZL_FAILPOINTS unset every call is a dictionary miss.
Syntax: comma-separated ``name=action``:

    after_ledger_insert=kill@3     SIGKILL this process at the 3rd hit
    during_ledger_insert=kill@2    at the 2nd hit, SIGKILL from a timer while the insert runs
    between_inserts=kill@2         after seen_events, before the ledger insert
    after_commit=kill@3            after Kafka committed the offsets of the previous flush
    ambiguous_ack=rate:0.1         raise a timeout after a successful insert, on 10% of writes
    sink_down=for:20               every write fails as unavailable for 20 s from the first hit
    clock_offset=3600              the worker's clock runs this many seconds ahead
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field

__all__ = ["FailpointError", "Failpoints", "active"]


class FailpointError(TimeoutError):
    """An injected failure that looks like a timeout to the code that sees it."""


@dataclass
class Failpoints:
    spec: dict[str, str] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=lambda: random.Random(20251231))
    _down_since: float | None = None

    @classmethod
    def from_env(cls, value: str | None = None) -> Failpoints:
        raw = os.environ.get("ZL_FAILPOINTS", "") if value is None else value
        spec = {}
        for item in raw.split(","):
            if "=" in item:
                name, action = item.split("=", 1)
                spec[name.strip()] = action.strip()
        return cls(spec)

    @property
    def enabled(self) -> bool:
        return bool(self.spec)

    def _count(self, name: str) -> int:
        self.hits[name] = self.hits.get(name, 0) + 1
        return self.hits[name]

    def _inject(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def hit(self, name: str) -> None:
        """Crash here if ZL_FAILPOINTS says so."""
        action = self.spec.get(name)
        if action is None or not action.startswith("kill@"):
            return
        if self._count(name) == int(action[5:]):
            self._inject(name)
            if name.startswith("during_"):
                # The insert runs in another thread; kill while it is under way.
                threading.Timer(0.002, os.kill, (os.getpid(), signal.SIGKILL)).start()
            else:
                os.kill(os.getpid(), signal.SIGKILL)

    def fail_after_success(self, name: str) -> None:
        """Raise an injected timeout after the operation succeeded (an ambiguous acknowledgement)."""
        action = self.spec.get(name)
        if action is None or not action.startswith("rate:"):
            return
        if self._rng.random() < float(action[5:]):
            self._inject(name)
            raise FailpointError(f"injected ambiguous acknowledgement ({name})")

    def unavailable(self, name: str) -> bool:
        """True while an injected outage lasts."""
        action = self.spec.get(name)
        if action is None or not action.startswith("for:"):
            return False
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        down = now - self._down_since < float(action[4:])
        if down:
            self._inject(name)
        return down

    def clock_offset_ms(self) -> int:
        return int(float(self.spec.get("clock_offset", "0")) * 1000)


_ACTIVE: Failpoints | None = None


def active() -> Failpoints:
    global _ACTIVE
    if _ACTIVE is None:
        _ACTIVE = Failpoints.from_env()
    return _ACTIVE
