"""The event builders, one per kind: each cuts its periods' amounts into events, lazily, in time order.

Every builder draws from its own random generator only, so no kind's cut depends
on another's, and each yields its events sorted by ``event_time`` (the stream
merges them).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Final

from zettaledger.producers import seed as seed_table
from zettaledger.producers.apportion import split_exact
from zettaledger.producers.catalog import REGION_CODES, REGION_CUM, Catalog
from zettaledger.producers.plan import Period, token_days
from zettaledger.producers.timeline import DAY_MS, ms, sorted_times, utc_day
from zettaledger.schemas.models import CollectionRun, DataCreated, DatasetRegistered, Derivation, Source, TokenUsage

__all__ = ["collection_runs", "data_created", "registrations", "token_usage"]

_ORGANIZATIONS: Final = MappingProxyType(
    {
        Source.IOT: ("grid-telemetry", "urban-sensing", "connected-vehicles", "industrial-iot", "smart-logistics"),
        Source.AI: ("cloud-platform", "os-telemetry", "ai-services", "search-recommendation"),
        Source.TRAINING: ("model-lab-a", "model-lab-b", "model-lab-c", "model-lab-d"),
        Source.INFERENCE: ("inference-service-a", "inference-service-b", "inference-service-c"),
    }
)
_TOKEN_CELLS: Final = tuple((m, r) for m in seed_table.TOKEN_MODELS for r, _ in seed_table.TOKEN_REGIONS)
_TOKEN_CUM: Final = tuple(itertools.accumulate(m.weight * dict(seed_table.TOKEN_REGIONS)[r] for m, r in _TOKEN_CELLS))

# UUID version 4 layout: version nibble 4, RFC 4122 variant bits 10.
_UUID_KEEP: Final = ~((0xF000 << 64) | (0xC000 << 48)) & (2**128 - 1)
_UUID_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def _event_id(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without building the UUID object (hot path)."""
    h = f"{(bits & _UUID_KEEP) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def registrations(catalog: Catalog, producer_id: str, rng: random.Random) -> Iterator[DatasetRegistered]:
    """Every dataset of the register once, in registration-time order."""
    bits = rng.getrandbits
    for d in catalog.datasets:
        yield DatasetRegistered(
            event_id=_event_id(bits(128)),
            event_time=d.time_ms,
            producer_id=producer_id,
            dataset_id=d.dataset_id,
            owner=d.owner,
            region=d.region,
            bytes=d.bytes,
            quality_grade=d.grade,
            registration_id=d.registration_id,
            parent_dataset_ids=d.parents,
        )


def _dataset_picker(catalog: Catalog, source: Source, rng: random.Random) -> Callable[[int], tuple[str, tuple[str, ...]]]:
    rand = rng.random
    if source in catalog.raw:
        ids = catalog.raw[source]
        return lambda _t: (ids[int(rand() * len(ids))], ())
    times = catalog.derived_times[source]
    rows = catalog.derived[source]

    def pick(t: int) -> tuple[str, tuple[str, ...]]:
        # Derived data goes into a dataset already registered at that time; before
        # the first one exists (the first weeks of 2024) it goes into the first.
        d = rows[int(rand() * max(1, bisect.bisect_right(times, t)))]
        return d.dataset_id, d.parents

    return pick


def data_created(
    source: Source, periods: tuple[Period, ...], catalog: Catalog, producer_id: str, rng: random.Random
) -> Iterator[DataCreated]:
    """One source's DataCreated events: each period's (bytes, records) cut over its events."""
    rand, bits = rng.random, rng.getrandbits
    orgs = _ORGANIZATIONS[source]
    pick = _dataset_picker(catalog, source, rng)
    copies = seed_table.REPLICATED_PER_MILLE.get(source, 0)
    for period in periods:
        n = period.events
        times = sorted_times(rng, n, period.start_ms, period.span_ms)
        regions = rng.choices(REGION_CODES, cum_weights=REGION_CUM, k=n)
        weights = [1.0 + rand() for _ in range(n)]  # in [1, 2): see plan._fits
        byte_parts = split_exact(period.amounts[0], weights)
        record_parts = split_exact(period.amounts[1], weights)
        for t, region, b, r in zip(times, regions, byte_parts, record_parts, strict=True):
            dataset_id, parents = pick(t)
            id_bits = bits(128)
            # ASSUMPTION (not a published figure): a share of derived data is a replica of its parent. Drawn from
            # the id's bits, so the random stream, and with it every other figure, is what it was without it.
            copy = bool(parents) and (id_bits >> 96) % 1000 < copies
            yield DataCreated(
                event_id=_event_id(id_bits),
                event_time=t,
                producer_id=producer_id,
                source=source,
                region=region,
                organization=orgs[int(rand() * len(orgs))],
                dataset_id=dataset_id,
                bytes=b,
                records=r,
                parent_dataset_ids=parents,
                derivation=Derivation.COPY if copy else None,
            )


def token_usage(events_per_day: int, producer_id: str, rng: random.Random) -> Iterator[TokenUsage]:
    """TokenUsage events: each day's tokens over ``events_per_day`` events, inputs exactly the seed's share."""
    rand, bits = rng.random, rng.getrandbits
    n = events_per_day
    for day, total in token_days():
        inputs_total = total * seed_table.TOKEN_INPUT_PERCENT // 100
        times = sorted_times(rng, n, ms(day), DAY_MS)
        cells = rng.choices(_TOKEN_CELLS, cum_weights=_TOKEN_CUM, k=n)
        weights = [1.0 + rand() for _ in range(n)]
        inputs = split_exact(inputs_total, weights)
        # The day's split is exactly 70/30; each event's leans by its model's verbosity.
        outputs = split_exact(total - inputs_total, [w * m.output_bias for w, (m, _) in zip(weights, cells, strict=True)])
        for t, (m, region), i, o in zip(times, cells, inputs, outputs, strict=True):
            yield TokenUsage(
                event_id=_event_id(bits(128)),
                event_time=t,
                producer_id=producer_id,
                model=m.model,
                provider=m.provider,
                region=region,
                input_tokens=i,
                output_tokens=o,
            )


def collection_runs(
    pipeline: seed_table.CollectionPipeline, periods: tuple[Period, ...], producer_id: str, rng: random.Random
) -> Iterator[CollectionRun]:
    """One pipeline's CollectionRun events: each period's attempts and losses cut over its runs."""
    rand, bits = rng.random, rng.getrandbits
    for period in periods:
        attempted_total, lost_total, bytes_total, lost_bytes_total = period.amounts
        n = period.events
        times = sorted_times(rng, n, period.start_ms, period.span_ms)
        attempted = split_exact(attempted_total, [1.0 + rand() for _ in range(n)])
        attempted_bytes = split_exact(bytes_total, [a * (0.8 + 0.4 * rand()) for a in attempted])
        # Loss factors in [0.75, 1.25) vary runs while keeping loss <= attempted: a run's
        # quota is below 5/3 of the period's loss share (<= 20.6 % + 1/attempted), so < 1.
        loss = [0.75 + 0.5 * rand() for _ in range(n)]
        lost = split_exact(lost_total, [a * z for a, z in zip(attempted, loss, strict=True)])
        lost_bytes = split_exact(lost_bytes_total, [b * z for b, z in zip(attempted_bytes, loss, strict=True)])
        for t, a, lo, b, lb in zip(times, attempted, lost, attempted_bytes, lost_bytes, strict=True):
            month = utc_day(t)
            yield CollectionRun(
                event_id=_event_id(bits(128)),
                event_time=t,
                producer_id=producer_id,
                pipeline_id=pipeline.pipeline_id,
                region=pipeline.region,
                dataset_id=f"ds-robot-{pipeline.pipeline_id}-{month.year}{month.month:02d}",
                attempted_captures=a,
                usable_captures=a - lo,
                attempted_bytes=b,
                usable_bytes=b - lb,
            )
