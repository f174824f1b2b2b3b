"""The national stream: every kind's events merged into one event-time order, lazily."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final

from zettaledger.producers import seed as seed_table
from zettaledger.producers.events import collection_runs, data_created, registrations, token_usage
from zettaledger.producers.manifest import Manifest
from zettaledger.producers.plan import DATA_SOURCES, Plan
from zettaledger.schemas.models import Event

__all__ = ["NationalStream"]

_EVENT_TIME: Final[Callable[[Event], int]] = attrgetter("event_time")


@dataclass(frozen=True)
class NationalStream:
    """Iterate for the events in event-time order; every pass yields the same events.

    ``len()`` is the exact number of events (for a progress bar) and ``manifest``
    their exact sums.
    """

    size: float
    seed: int
    producer_id: str
    manifest: Manifest
    plan: Plan = field(repr=False)

    def __len__(self) -> int:
        return self.manifest.total_events

    def __iter__(self) -> Iterator[Event]:
        # One sorted stream per kind (and per source or pipeline), merged by time:
        # each keeps its own random generator, so no stream's cut depends on another's.
        plan, producer_id = self.plan, self.producer_id
        streams: list[Iterator[Event]] = [
            registrations(plan.catalog, producer_id, self._rng("registrations")),
            token_usage(plan.tokens_per_day, producer_id, self._rng("tokens")),
        ]
        streams.extend(
            data_created(source, plan.data[source], plan.catalog, producer_id, self._rng(f"data/{source.value}"))
            for source in DATA_SOURCES
        )
        streams.extend(
            collection_runs(p, plan.collection[p.pipeline_id], producer_id, self._rng(f"collection/{p.pipeline_id}"))
            for p in seed_table.PIPELINES
        )
        return heapq.merge(*streams, key=_EVENT_TIME)

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/events/{name}")
