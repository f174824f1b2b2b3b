"""Which event ids were already counted: the resend filter, within a documented horizon.

A producer that retries may write the same event twice, at two offsets. The
window remembers each counted event id with where it was first seen (partition,
offset, index in its batch). Seeing it again *at the same place* is a replay of
that message after a worker restart and is counted (the ledger did not have it);
seeing it *anywhere else* is a resend and is dropped.

Memory holds the recent part of the horizon; ClickHouse holds all of it. Ids are
remembered here for ``horizon_s`` seconds of worker time and at most ``max_ids``
ids, oldest forgotten first (up to 3% over ``max_ids`` between trims). What the
window forgets by count it reports (``expire`` returns, per key, the stream time
of the flushes it forgot ids of), so that the accountant knows which event times
the window no longer vouches for: an event at or before that time is looked up in
``seen_events`` instead (see ``streams.accountant``). That keeps the horizon at any
rate, with memory bounded by ``max_ids``. Resends must carry the same Kafka key
(the producer library keys by dataset id), so they reach the same partition and
the same worker. Ids are UUIDs, compared without regard to letter case.

Memory: the newest ids (up to ``seal_size``) sit in dicts; older ones are sealed
into sorted numpy arrays at 44 bytes an id, where a dict costs about 280. Two
million ids take about 90 MB instead of 560 MB, which keeps the worker's memory
flat on long streams.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from zettaledger.schemas.validation import UUID_PATTERN

__all__ = ["DedupWindow", "Place", "uuid_halves"]

Place = tuple[int, int, int, int]  # partition, offset, index in batch, seen_at (seconds)


_DASHES = np.array([8, 13, 18, 23])
# One flag per bucket of the low 64 bits: most ids a batch asks about are new, and
# one gather rules them out before any binary search (16 MB, rebuilt when ids go).
_FILTER_BITS = 24
_MASK = (1 << _FILTER_BITS) - 1
_FILTER_MASK = np.uint64(_MASK)


def uuid_halves(ids: Sequence[str]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The high and low 64 bits of each UUID (a 128-bit hash for an id that is not one)."""
    raw = None
    joined = "".join(ids)
    if len(joined) == 36 * len(ids) and joined.isascii():
        chars = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(-1, 36)
        if (chars[:, _DASHES] == ord("-")).all():
            # A dash anywhere else shortens the hex, and the length check catches it.
            try:
                raw = bytes.fromhex(joined.replace("-", ""))
            except ValueError:
                raw = None
            if raw is not None and len(raw) != 16 * len(ids):
                raw = None
    if raw is None:  # some id is not a canonical UUID: one at a time
        raw = b"".join(map(_id_bytes, ids))
    halves = np.frombuffer(raw, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return halves[:, 0].copy(), halves[:, 1].copy()


def _id_bytes(event_id: str) -> bytes:
    if UUID_PATTERN.fullmatch(event_id):
        return bytes.fromhex(event_id.replace("-", ""))
    return hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _Sealed:
    """Sighted ids in sorted arrays: ``hi`` ascending (ties in any order), the rest aligned with it."""

    def __init__(self) -> None:
        self.hi = np.empty(0, np.uint64)
        self.lo = np.empty(0, np.uint64)
        self.partition = np.empty(0, np.uint32)
        self.offset = np.empty(0, np.int64)
        self.index = np.empty(0, np.uint32)
        self.seen_at = np.empty(0, np.int64)
        self.seq = np.empty(0, np.uint64)  # insertion order, for forgetting the oldest first
        self.oldest_seen_at = 0
        self.maybe = np.zeros(1 << _FILTER_BITS, dtype=bool)

    def __len__(self) -> int:
        return len(self.hi)

    def add(self, ids: list[str], places: list[Place], first_seq: int) -> None:
        hi, lo = uuid_halves(ids)
        cols = np.fromiter(chain.from_iterable(places), dtype=np.int64, count=4 * len(places)).reshape(-1, 4)
        order = np.argsort(hi)  # ties in any order: find() scans them
        hi, lo, cols = hi[order], lo[order], cols[order]
        seq = (np.arange(len(ids), dtype=np.uint64) + np.uint64(first_seq))[order]
        at = np.searchsorted(self.hi, hi)
        self.hi = np.insert(self.hi, at, hi)
        self.lo = np.insert(self.lo, at, lo)
        self.partition = np.insert(self.partition, at, cols[:, 0].astype(np.uint32))
        self.offset = np.insert(self.offset, at, cols[:, 1])
        self.index = np.insert(self.index, at, cols[:, 2].astype(np.uint32))
        self.seen_at = np.insert(self.seen_at, at, cols[:, 3])
        self.seq = np.insert(self.seq, at, seq)
        self.oldest_seen_at = int(self.seen_at.min())
        self.maybe[lo & _FILTER_MASK] = True

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        for name in ("hi", "lo", "partition", "offset", "index", "seen_at", "seq"):
            setattr(self, name, getattr(self, name)[mask])
        self.oldest_seen_at = int(self.seen_at.min()) if len(self.seen_at) else 0
        self.maybe[:] = False
        self.maybe[self.lo & _FILTER_MASK] = True

    def find(self, ids: Sequence[str]) -> dict[str, Place]:
        """The sightings of those ``ids`` held here (usually none)."""
        if not len(self.hi) or not ids:
            return {}
        if len(ids) == 1 and UUID_PATTERN.fullmatch(ids[0]) and not self.maybe[int(ids[0][19:23] + ids[0][24:], 16) & _MASK]:
            return {}  # one id, plainly new: no arrays built
        qhi, qlo = uuid_halves(ids)
        asked = np.flatnonzero(self.maybe[qlo & _FILTER_MASK])
        if not len(asked):
            return {}
        at = np.searchsorted(self.hi, qhi[asked])
        inside = at < len(self.hi)
        hits = inside & (self.hi[np.where(inside, at, 0)] == qhi[asked])
        candidates = zip(asked[hits].tolist(), at[hits].tolist(), strict=True)
        found: dict[str, Place] = {}
        for q, i in candidates:
            h, low = qhi[q], qlo[q]
            while i < len(self.hi) and self.hi[i] == h:  # equal high halves are rare: scan them
                if self.lo[i] == low:
                    found[ids[q].lower()] = (
                        int(self.partition[i]),
                        int(self.offset[i]),
                        int(self.index[i]),
                        int(self.seen_at[i]),
                    )
                    break
                i += 1
        return found


class DedupWindow:
    """Counted event ids, oldest first, bounded by time and by count.

    Callers ask and tell a batch at a time: ``find`` where ids were first counted,
    ``record`` the ids a written flush counted, ``expire`` as the clock moves.
    """

    def __init__(self, horizon_s: int, max_ids: int, seal_size: int = 262_144) -> None:
        if horizon_s <= 0 or max_ids <= 0 or seal_size <= 0:
            raise ValueError("horizon_s, max_ids and seal_size must be positive")
        self.horizon_s = horizon_s
        self.max_ids = max_ids
        self.seal_size = seal_size
        # The newest ids, lower-case, oldest first: one dict per ``record`` (the flush's own
        # mapping, kept as it is rather than copied) or ``load``; never changed once held.
        self._recent: list[Mapping[str, Place]] = []
        self._recent_ids = 0
        # The same ids in one dict, first sighting kept: a lookup is one dict probe however many
        # flushes were recorded since the last seal (a take of single events records one each).
        self._recent_index: dict[str, Place] = {}
        self._sealed = _Sealed()
        self._next_seq = 0
        self.forgotten = 0
        # (first seq, stream times) of each recorded flush, oldest first: when ids are forgotten
        # by count, these say up to which event time the window no longer holds every id.
        self._generations: deque[tuple[int, Mapping[Any, int]]] = deque()
        self._recorded = 0

    def __len__(self) -> int:
        return self._recent_ids + len(self._sealed)

    @property
    def sealed(self) -> int:
        """How many ids are held in the sorted arrays (the rest are recent)."""
        return len(self._sealed)

    def find(self, ids: Sequence[str]) -> dict[str, Place]:
        """Where each of ``ids`` was first counted, for the ids the window holds (usually none).

        Keyed by lower-case id; ``ids`` may be in any case. One call for a whole batch:
        the sorted arrays are searched once. An event is a replay (count it) when it
        comes from the place found, a resend (drop it) when from anywhere else.
        """
        found = self._sealed.find(ids)
        index = self._recent_index
        if index:
            keys = ids if "".join(ids).islower() else [i.lower() for i in ids]
            for key in keys:
                place = index.get(key)
                if place is not None:
                    found.setdefault(key, place)
        return found

    def record(self, sightings: Mapping[str, Place], stream_times: Mapping[Any, int] | None = None) -> None:
        """Remember ids counted at those places: lower-case ids that ``find`` did not know.

        ``stream_times``: the latest event time per key (topic-partition) once those events
        were counted, i.e. no id here has a later event time; reported back by ``expire`` when
        these ids are forgotten by count. The window keeps ``sightings`` itself (no copy): it
        must not change afterwards.
        """
        if sightings and not any(r is sightings for r in self._recent):
            self._generations.append((self._recorded, stream_times or {}))
            self._recorded += len(sightings)
            self._recent.append(sightings)
            self._recent_ids += len(sightings)
            # Every id keeps its first place: ``index.setdefault`` for each, done as two
            # C-level updates (a Python loop over a take's ids cost ~0.4 µs an event).
            index = self._recent_index
            earlier = {key: index[key] for key in index.keys() & sightings.keys()} if index else None
            index.update(sightings)
            if earlier:
                index.update(earlier)
            if self._recent_ids >= self.seal_size:
                self.seal()

    def seal(self) -> None:
        """Move the recent ids into the sorted arrays."""
        if self._recent:
            ids = [key for recent in self._recent for key in recent]
            places = [place for recent in self._recent for place in recent.values()]
            self._sealed.add(ids, places, self._next_seq)
            self._next_seq += len(ids)
            self._recent = []
            self._recent_ids = 0
            self._recent_index = {}

    def expire(self, now_s: int) -> dict[Any, int]:
        """Forget ids older than the horizon, and the oldest beyond ``max_ids``; seal a full dict.

        Returns, per key, the latest stream time of the flushes whose ids were forgotten by count
        (empty when none were): events up to that time may have been counted without the window
        holding them any more. Ids forgotten by age need no such report: past the horizon, a
        resend counts again wherever it is looked up.
        """
        cutoff = now_s - self.horizon_s
        recent_oldest = next(iter(self._recent[0].values()))[3] if self._recent else None
        # Trimming costs a pass over the arrays: do it in steps of max_ids/32, not every flush.
        trim = len(self) - self.max_ids > self.max_ids // 32
        if self._recent_ids >= self.seal_size or (recent_oldest is not None and recent_oldest < cutoff) or trim:
            self.seal()
        sealed = self._sealed
        if len(sealed) and sealed.oldest_seen_at < cutoff - self.horizon_s // 100:
            before = len(sealed)
            sealed.keep(sealed.seen_at >= cutoff)
            self.forgotten += before - len(sealed)
        excess = len(self) - self.max_ids
        forgotten_up_to: dict[Any, int] = {}
        if trim and excess > 0:
            mask = np.ones(len(sealed), dtype=bool)
            oldest = np.argpartition(sealed.seq, excess - 1)[:excess] if excess < len(sealed) else np.arange(len(sealed))
            last_forgotten = int(sealed.seq[oldest].max()) if len(oldest) else -1
            mask[oldest] = False
            sealed.keep(mask)
            self.forgotten += excess
            # Every flush that lost an id: its stream times bound the event times no longer all held.
            while self._generations and self._generations[0][0] <= last_forgotten:
                _, times = self._generations.popleft()
                for key, t in times.items():
                    if t > forgotten_up_to.get(key, -1):
                        forgotten_up_to[key] = t
        return forgotten_up_to
