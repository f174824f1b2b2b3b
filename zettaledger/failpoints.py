"""Deterministic fault injection for the fault suite (``make faults``). Off unless ZL_FAILPOINTS is set.

``Settings.failpoints`` holds the spec (ZL_FAILPOINTS) and validates it with
``Failpoints.parse``; the entry point builds one ``Failpoints`` from it and hands
it to the code that has points: ``sinks.store.open_store`` (which wraps the ledger
store only when points are configured, so the writer itself has no hooks) and the
ingest agent (``after_commit``, ``clock_offset``). With no spec, ``hit(name)`` is a
dictionary miss. Syntax: comma-separated ``name=action``:

    after_ledger_insert=kill@3     SIGKILL this process at the 3rd hit
    during_ledger_insert=kill@2    at the 2nd hit, SIGKILL from a timer while the insert runs
    between_inserts=kill@2         after seen_events, before the ledger insert
    after_commit=kill@3            after Kafka committed the offsets of the previous flush
    ambiguous_ack=rate:0.1         raise a timeout after a successful insert, on 10% of writes
    sink_down=for:20               every write fails as unavailable for 20 s from the first hit
    clock_offset=3600              the worker's clock runs this many seconds ahead
    before_insert=pause:25@3       at the 3rd write past its overlap check, pause 25 s before its inserts
                                   (writes only: setup's inserts into schema_migrations do not count)
    during_stop=pause:600@1        when the worker's graceful stop begins, block it 600 s (ZL_SHUTDOWN_TIMEOUT_S ends it)
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from zettaledger.errors import ZettaledgerError

__all__ = ["POINTS", "FailpointError", "FailpointSpecError", "Failpoints"]

# Each point and the one action it takes: kill@N (N >= 1), rate:P (0 <= P <= 1),
# for:S (S >= 0 seconds) or a bare number of seconds (clock_offset).
POINTS: dict[str, str] = {
    "after_ledger_insert": "kill@",
    "during_ledger_insert": "kill@",
    "between_inserts": "kill@",
    "after_commit": "kill@",
    "ambiguous_ack": "rate:",
    "sink_down": "for:",
    "clock_offset": "",
    "before_insert": "pause:",
    "during_stop": "pause:",
}


class FailpointError(TimeoutError):
    """An injected failure that looks like a timeout to the code that sees it."""


class FailpointSpecError(ZettaledgerError, ValueError):
    """A ZL_FAILPOINTS spec names an unknown point or gives it a malformed action."""


def _check_action(name: str, action: str) -> None:
    prefix = POINTS[name]
    if not action.startswith(prefix):
        raise FailpointSpecError(f"{name}={action!r}: expected {prefix or 'a number of seconds'}{'...' if prefix else ''}")
    value = action[len(prefix) :]
    try:
        if prefix == "kill@":
            ok = int(value) >= 1
        elif prefix == "rate:":
            ok = 0.0 <= float(value) <= 1.0
        elif prefix == "for:":
            ok = float(value) >= 0.0
        elif prefix == "pause:":
            seconds, at, nth = value.partition("@")
            ok = float(seconds) >= 0.0 and bool(at) and int(nth) >= 1
        else:
            ok = math.isfinite(float(value))
    except ValueError:
        ok = False
    if not ok:
        ranges = {
            "kill@": "an integer >= 1",
            "rate:": "a probability 0..1",
            "for:": "seconds >= 0",
            "pause:": "SECONDS@N (pause at the Nth hit)",
            "": "seconds",
        }
        raise FailpointSpecError(f"{name}={action!r}: after {prefix!r} expected {ranges[prefix]}")


@dataclass
class Failpoints:
    spec: dict[str, str] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=lambda: random.Random(20251231))
    _down_since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def parse(cls, spec: str) -> Failpoints:
        """Failpoints from a ZL_FAILPOINTS spec; raises ``FailpointSpecError`` naming every bad item."""
        points: dict[str, str] = {}
        problems: list[str] = []
        for item in (i.strip() for i in spec.split(",")):
            if not item:
                continue
            name, sep, action = (part.strip() for part in item.partition("="))
            if not sep:
                problems.append(f"{item!r}: expected name=action")
            elif name not in POINTS:
                problems.append(f"{name!r}: no such failpoint (known: {', '.join(POINTS)})")
            else:
                try:
                    _check_action(name, action)
                    points[name] = action
                except FailpointSpecError as exc:
                    problems.append(str(exc))
        if problems:
            raise FailpointSpecError("; ".join(problems))
        return cls(points)

    def _count(self, name: str) -> int:
        with self._lock:  # a ledger host's writes run on several threads: each hit gets its own number
            self.hits[name] = self.hits.get(name, 0) + 1
            return self.hits[name]

    def _inject(self, name: str) -> None:
        self.injected[name] = self.injected.get(name, 0) + 1

    def armed(self, name: str) -> bool:
        """True when the spec names ``name`` (so the caller can set up what the point needs)."""
        return name in self.spec

    def hit(self, name: str) -> None:
        """Crash here if the spec says so."""
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

    def pause(self, name: str) -> None:
        """Sleep here at the Nth hit if the spec says ``pause:SECONDS@N`` (a window another writer can use)."""
        action = self.spec.get(name)
        if action is None or not action.startswith("pause:"):
            return
        seconds, _, nth = action[6:].partition("@")
        if self._count(name) == int(nth):
            self._inject(name)
            print(f"failpoint {name}: pausing {seconds} s", file=sys.stderr, flush=True)  # the fault suite waits for it
            time.sleep(float(seconds))

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
