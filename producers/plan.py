"""The calibration: integer totals per reporting period, decided before any event exists.

Each seed-table total is cut with ``split_exact`` into periods (days to weeks) that
follow the activity of the calendar; a period then says how many events share its
amounts. ``size`` changes the number of events, never a total.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from zettaledger.producers import seed as seed_table
from zettaledger.producers.apportion import split_exact
from zettaledger.producers.catalog import Catalog, catalog
from zettaledger.producers.timeline import DAY_MS, day_weight, ms
from zettaledger.schemas.models import Source

__all__ = ["DATA_SOURCES", "MAX_EVENT_BYTES", "Period", "Plan", "make_plan", "token_days"]

MAX_EVENT_BYTES: Final = 2**63 - 1  # largest Avro long; a bigger amount is reported as several events

DATA_SOURCES: Final = (Source.IOT, Source.AI, Source.TRAINING, Source.INFERENCE)

# Events at size 1.0 (about 460k in all, with the 113,268 registrations that never scale).
_DATA_EVENTS_PER_YEAR: Final = MappingProxyType(
    {Source.IOT: 36_000, Source.AI: 24_000, Source.TRAINING: 10_000, Source.INFERENCE: 10_000}
)
_TOKEN_EVENTS_PER_DAY: Final = 180
_COLLECTION_RUNS_PER_PIPELINE: Final = 8_000
_MIN_PERIODS: Final = 12  # even the smallest stream reports at least monthly


@dataclass(frozen=True, slots=True)
class Period:
    """``events`` events in [start_ms, start_ms + span_ms) that share ``amounts`` exactly."""

    start_ms: int
    span_ms: int
    events: int
    amounts: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """Everything a stream's events are cut from, and its manifest summed from."""

    catalog: Catalog
    data: Mapping[Source, tuple[Period, ...]]  # amounts: (bytes, records)
    collection: Mapping[str, tuple[Period, ...]]  # pipeline_id -> amounts: (attempted, lost, bytes, lost bytes)
    tokens_per_day: int


def make_plan(size: float, seed: int) -> Plan:
    """The plan for ``(size, seed)``: the register (cached per seed) and the periods of every total."""
    return Plan(
        catalog=catalog(seed),
        data=MappingProxyType({source: _data_plan(source, size) for source in DATA_SOURCES}),
        collection=MappingProxyType({p.pipeline_id: _collection_plan(p, size, seed) for p in seed_table.PIPELINES}),
        tokens_per_day=max(1, round(_TOKEN_EVENTS_PER_DAY * size)),
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _periods(events: int, days: int) -> list[tuple[int, int, int]]:
    """(first day offset, days, events) for up to ``days`` periods sharing ``events`` evenly."""
    count = min(days, events)
    return [
        (p * days // count, (p + 1) * days // count - p * days // count, (p + 1) * events // count - p * events // count)
        for p in range(count)
    ]


def _fits(amount: int) -> int:
    # Events of a period get jitter weights in [1, 2), so one event's quota is below
    # 2 * amount / events; this many events keep every part at or below MAX_EVENT_BYTES.
    return _ceil_div(2 * amount, MAX_EVENT_BYTES - 1)


def _data_plan(source: Source, size: float) -> tuple[Period, ...]:
    out: list[Period] = []
    for year in seed_table.YEARS:
        first = date(year, 1, 1)
        days = (date(year + 1, 1, 1) - first).days
        events = max(_MIN_PERIODS, round(_DATA_EVENTS_PER_YEAR[source] * size))
        spans = _periods(events, days)
        weights = [sum(day_weight(first + timedelta(d0 + i)) for i in range(n)) for d0, n, _ in spans]
        byte_parts = split_exact(seed_table.DATA_CREATED_BYTES[(year, source)], weights)
        record_parts = split_exact(seed_table.DATA_CREATED_RECORDS[(year, source)], weights)
        for (d0, n, k), b, r in zip(spans, byte_parts, record_parts, strict=True):
            out.append(Period(ms(first) + d0 * DAY_MS, n * DAY_MS, max(k, _fits(b), _fits(r)), (b, r)))
    return tuple(out)


def _geometric(a: int, b: int, step: int, steps: int) -> int:
    if step == 0 or a == b:
        return a
    if step == steps:
        return b
    with localcontext() as ctx:
        ctx.prec = 50
        # exp and ln are correctly rounded in ``decimal``, so every platform agrees.
        value = Decimal(a) * ((Decimal(b) / Decimal(a)).ln() * step / steps).exp()
        return int(value.to_integral_value())


@lru_cache(maxsize=1)
def token_days() -> tuple[tuple[date, int], ...]:
    """(UTC day, input + output tokens) for every day, geometric between the seed table's anchors."""
    out: list[tuple[date, int]] = []
    anchors = seed_table.TOKEN_ANCHORS
    for (d0, v0), (d1, v1) in itertools.pairwise(anchors):
        steps = (d1 - d0).days
        out.extend((d0 + timedelta(i), _geometric(v0, v1, i, steps)) for i in range(steps))
    out.append(anchors[-1])
    return tuple(out)


def _collection_plan(pipeline: seed_table.CollectionPipeline, size: float, seed_value: int) -> tuple[Period, ...]:
    rng = random.Random(f"{seed_value}/collection-plan/{pipeline.pipeline_id}")
    first = date(2025, 1, 1)
    events = max(_MIN_PERIODS, round(_COLLECTION_RUNS_PER_PIPELINE * size))
    spans = _periods(events, 365)
    weights = [sum(day_weight(first + timedelta(d0 + i)) for i in range(n)) for d0, n, _ in spans]
    attempted = split_exact(pipeline.attempted_captures, weights)
    a_bytes = split_exact(pipeline.attempted_bytes, [a * (0.9 + 0.2 * rng.random()) for a in attempted])
    # Losses in proportion to what was attempted keep each period's loss share at the pipeline's.
    lost = split_exact(pipeline.attempted_captures - pipeline.usable_captures, attempted)
    lost_bytes = split_exact(pipeline.attempted_bytes - pipeline.usable_bytes, a_bytes)
    return tuple(
        Period(ms(first) + d0 * DAY_MS, n * DAY_MS, k, (a, lo, b, lb))
        for (d0, n, k), a, lo, b, lb in zip(spans, attempted, lost, a_bytes, lost_bytes, strict=True)
    )
