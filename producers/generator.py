"""Deterministic synthetic events whose exact integer sums reproduce ``producers.seed``.

``generate(size, seed)`` returns a ``NationalStream``. Iterating it yields
DataCreated, TokenUsage, DatasetRegistered and CollectionRun events in event-time
order, lazily; ``stream.manifest`` states exactly what those events add up to, and
is computed from the same plan the events are cut from, without building them.

``size`` sets how finely each total is cut (how many events), never the totals:
every figure in the manifest except the event counts is the same at every size.
The same ``(size, seed)`` gives the same events with the same ids, on any machine:
only integer arithmetic, IEEE-exact float operations and correctly rounded
``decimal`` functions decide an amount (no libm ``exp``/``pow``).
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, localcontext
from functools import lru_cache
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Final

from zettaledger.producers import seed as seed_table
from zettaledger.schemas.models import CollectionRun, DataCreated, DatasetRegistered, Event, QualityGrade, Source, TokenUsage

__all__ = ["MAX_EVENT_BYTES", "Manifest", "NationalStream", "PipelineTotals", "generate", "split_exact"]

MAX_EVENT_BYTES: Final = 2**63 - 1  # largest Avro long; a bigger amount is reported as several events

_DAY_MS: Final = 86_400_000
_EPOCH: Final = date(1970, 1, 1)

# Events at size 1.0 (about 460k in all, with the 113,268 registrations that never scale).
_DATA_EVENTS_PER_YEAR: Final = MappingProxyType(
    {Source.IOT: 36_000, Source.AI: 24_000, Source.TRAINING: 10_000, Source.INFERENCE: 10_000}
)
_TOKEN_EVENTS_PER_DAY: Final = 180
_COLLECTION_RUNS_PER_PIPELINE: Final = 8_000
_MIN_PERIODS: Final = 12  # even the smallest stream reports at least monthly

_DATA_SOURCES: Final = (Source.IOT, Source.AI, Source.TRAINING, Source.INFERENCE)
_ORGANIZATIONS: Final = MappingProxyType(
    {
        Source.IOT: ("grid-telemetry", "urban-sensing", "connected-vehicles", "industrial-iot", "smart-logistics"),
        Source.AI: ("cloud-platform", "os-telemetry", "ai-services", "search-recommendation"),
        Source.TRAINING: ("model-lab-a", "model-lab-b", "model-lab-c", "model-lab-d"),
        Source.INFERENCE: ("inference-service-a", "inference-service-b", "inference-service-c"),
    }
)
_OWNERS: Final = ("data-exchange", "public-data-operator", "research-institute", "industry-alliance", "state-enterprise")

_REGION_CODES: Final = tuple(code for code, _ in seed_table.REGIONS)
_REGION_CUM: Final = tuple(itertools.accumulate(w for _, w in seed_table.REGIONS))
_TOKEN_CELLS: Final = tuple((m, r) for m in seed_table.TOKEN_MODELS for r, _ in seed_table.TOKEN_REGIONS)
_TOKEN_CUM: Final = tuple(itertools.accumulate(m.weight * dict(seed_table.TOKEN_REGIONS)[r] for m, r in _TOKEN_CELLS))

# UUID version 4 layout: version nibble 4, RFC 4122 variant bits 10.
_UUID_KEEP: Final = ~((0xF000 << 64) | (0xC000 << 48)) & (2**128 - 1)
_UUID_SET: Final = (0x4000 << 64) | (0x8000 << 48)


def split_exact(total: int, weights: Sequence[int | float]) -> list[int]:
    """Cut ``total`` into non-negative ints proportional to ``weights`` that sum to exactly ``total``.

    Largest-remainder apportionment on the exact values of the weights (floats are
    converted without rounding), so each part is the floor or the ceiling of its
    exact quota and never more than one unit from it. Ties go to the earlier index.
    """
    if total < 0:
        raise ValueError(f"total={total}: cannot split a negative amount")
    exact = _exact_weights(weights)
    weight_sum = sum(exact)
    if weight_sum == 0:
        if total == 0:
            return [0] * len(exact)
        raise ValueError(f"total={total} but the {len(exact)} weights sum to zero; give at least one positive weight")
    quotas = [divmod(total * w, weight_sum) for w in exact]
    parts = [q for q, _ in quotas]
    left = total - sum(parts)
    if left:
        for i in heapq.nlargest(left, range(len(parts)), key=lambda i: quotas[i][1]):
            parts[i] += 1
    return parts


def _exact_weights(weights: Sequence[int | float]) -> list[int]:
    try:
        ratios = [w.as_integer_ratio() for w in weights]
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"weights must be finite numbers: {exc}") from exc
    # Float denominators are powers of two (ints have 1), so the largest is a common multiple.
    common = max((d for _, d in ratios), default=1)
    ints = [n * (common // d) for n, d in ratios]
    for w, i in zip(weights, ints, strict=True):
        if i < 0:
            raise ValueError(f"weight {w!r} is negative; weights must be >= 0")
    return ints


@dataclass(frozen=True, slots=True)
class PipelineTotals:
    """One collection pipeline's sums over its CollectionRun events."""

    attempted_captures: int
    usable_captures: int
    attempted_bytes: int
    usable_bytes: int


@dataclass(frozen=True)
class Manifest:
    """What the events of one stream add up to, exactly. Mappings are read-only."""

    seed: int
    size: float
    data_bytes: Mapping[tuple[int, Source], int]  # (event-time year, source) -> bytes
    data_records: Mapping[tuple[int, Source], int]
    tokens_by_day: Mapping[date, int]  # UTC day -> input + output tokens
    input_tokens: int
    output_tokens: int
    registrations: int  # DatasetRegistered events; each dataset_id once
    registrations_by_grade: Mapping[QualityGrade, int]
    high_quality_datasets: int
    high_quality_bytes: int
    collection: Mapping[str, PipelineTotals]  # pipeline_id -> totals
    lineage_edges: int  # distinct (parent, child) pairs over DataCreated and DatasetRegistered
    lineage_sha256: str  # of the sorted "parent>child\n" lines
    events_by_type: Mapping[str, int]

    @property
    def total_events(self) -> int:
        return sum(self.events_by_type.values())

    def data_bytes_in(self, year: int) -> int:
        return sum(v for (y, _), v in self.data_bytes.items() if y == year)

    def to_json(self) -> dict[str, Any]:
        """Plain dicts of ints and strings, for a manifest file the integration test reads."""
        data: dict[str, dict[str, dict[str, int]]] = {}
        for (year, source), value in sorted(self.data_bytes.items()):
            data.setdefault(str(year), {})[source.value] = {
                "bytes": value,
                "records": self.data_records[(year, source)],
            }
        return {
            "seed": self.seed,
            "size": repr(self.size),
            "data_created": data,
            "tokens": {
                "by_day": {d.isoformat(): v for d, v in sorted(self.tokens_by_day.items())},
                "input": self.input_tokens,
                "output": self.output_tokens,
            },
            "datasets": {
                "registrations": self.registrations,
                "by_grade": {g.value: n for g, n in self.registrations_by_grade.items()},
                "high_quality": {"count": self.high_quality_datasets, "bytes": self.high_quality_bytes},
            },
            "collection": {
                pid: {
                    "attempted_captures": t.attempted_captures,
                    "usable_captures": t.usable_captures,
                    "attempted_bytes": t.attempted_bytes,
                    "usable_bytes": t.usable_bytes,
                }
                for pid, t in self.collection.items()
            },
            "lineage": {"edges": self.lineage_edges, "sha256": self.lineage_sha256},
            "events": {"by_type": dict(self.events_by_type), "total": self.total_events},
        }


# --- plan: the integer totals per reporting period, decided before any event exists --


@dataclass(frozen=True, slots=True)
class _Period:
    """``events`` events in [start_ms, start_ms + span_ms) that share ``amounts`` exactly."""

    start_ms: int
    span_ms: int
    events: int
    amounts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Dataset:
    dataset_id: str
    time_ms: int
    owner: str
    region: str
    bytes: int
    grade: QualityGrade
    registration_id: str | None
    parents: tuple[str, ...]


@dataclass(frozen=True)
class _Catalog:
    """The register: every dataset once, in registration-time order, with its lineage."""

    datasets: tuple[_Dataset, ...]
    raw: Mapping[Source, tuple[str, ...]]
    derived_times: Mapping[Source, tuple[int, ...]]  # TRAINING / INFERENCE, sorted
    derived: Mapping[Source, tuple[_Dataset, ...]]
    edges: int
    edges_sha256: str


def _ms(day: date) -> int:
    return (day - _EPOCH).days * _DAY_MS


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _periods(events: int, days: int) -> list[tuple[int, int, int]]:
    """(first day offset, days, events) for up to ``days`` periods sharing ``events`` evenly."""
    count = min(days, events)
    return [
        (p * days // count, (p + 1) * days // count - p * days // count, (p + 1) * events // count - p * events // count)
        for p in range(count)
    ]


def _day_weight(day: date) -> float:
    # Activity rises through the year and dips at weekends.
    ramp = 1.0 + 0.3 * (day.timetuple().tm_yday / 366)
    return ramp * (0.9 if day.weekday() >= 5 else 1.0)


def _fits(amount: int) -> int:
    # Events of a period get jitter weights in [1, 2), so one event's quota is below
    # 2 * amount / events; this many events keep every part at or below MAX_EVENT_BYTES.
    return _ceil_div(2 * amount, MAX_EVENT_BYTES - 1)


def _data_plan(source: Source, size: float) -> tuple[_Period, ...]:
    out: list[_Period] = []
    for year in seed_table.YEARS:
        first = date(year, 1, 1)
        days = (date(year + 1, 1, 1) - first).days
        events = max(_MIN_PERIODS, round(_DATA_EVENTS_PER_YEAR[source] * size))
        spans = _periods(events, days)
        weights = [sum(_day_weight(first + timedelta(d0 + i)) for i in range(n)) for d0, n, _ in spans]
        byte_parts = split_exact(seed_table.DATA_CREATED_BYTES[(year, source)], weights)
        record_parts = split_exact(seed_table.DATA_CREATED_RECORDS[(year, source)], weights)
        for (d0, n, k), b, r in zip(spans, byte_parts, record_parts, strict=True):
            out.append(_Period(_ms(first) + d0 * _DAY_MS, n * _DAY_MS, max(k, _fits(b), _fits(r)), (b, r)))
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
def _token_days() -> tuple[tuple[date, int], ...]:
    out: list[tuple[date, int]] = []
    anchors = seed_table.TOKEN_ANCHORS
    for (d0, v0), (d1, v1) in itertools.pairwise(anchors):
        steps = (d1 - d0).days
        out.extend((d0 + timedelta(i), _geometric(v0, v1, i, steps)) for i in range(steps))
    out.append(anchors[-1])
    return tuple(out)


def _collection_plan(pipeline: seed_table.CollectionPipeline, size: float, seed_value: int) -> tuple[_Period, ...]:
    rng = random.Random(f"{seed_value}/collection-plan/{pipeline.pipeline_id}")
    first = date(2025, 1, 1)
    events = max(_MIN_PERIODS, round(_COLLECTION_RUNS_PER_PIPELINE * size))
    spans = _periods(events, 365)
    weights = [sum(_day_weight(first + timedelta(d0 + i)) for i in range(n)) for d0, n, _ in spans]
    attempted = split_exact(pipeline.attempted_captures, weights)
    a_bytes = split_exact(pipeline.attempted_bytes, [a * (0.9 + 0.2 * rng.random()) for a in attempted])
    # Losses in proportion to what was attempted keep each period's loss share at the pipeline's.
    lost = split_exact(pipeline.attempted_captures - pipeline.usable_captures, attempted)
    lost_bytes = split_exact(pipeline.attempted_bytes - pipeline.usable_bytes, a_bytes)
    return tuple(
        _Period(_ms(first) + d0 * _DAY_MS, n * _DAY_MS, k, (a, lo, b, lb))
        for (d0, n, k), a, lo, b, lb in zip(spans, attempted, lost, a_bytes, lost_bytes, strict=True)
    )


def _sorted_times(rng: random.Random, count: int, start_ms: int, span_ms: int) -> list[int]:
    return sorted(start_ms + int(rng.random() * span_ms) for _ in range(count))


def _heavy_tail(rng: random.Random, count: int) -> list[float]:
    # Pareto-like sizes from one division: a few datasets are ~20x the median.
    return [1.0 / (0.05 + rng.random()) for _ in range(count)]


@lru_cache(maxsize=2)
def _catalog(seed_value: int) -> _Catalog:
    """The register does not depend on ``size``: the same 113,268 datasets at every size."""
    rng = random.Random(f"{seed_value}/catalog")
    start = _ms(seed_table.REGISTRATION_FIRST_DAY)
    end = _ms(seed_table.REGISTRATION_LAST_DAY + timedelta(1))

    def tier(prefix: str, count: int, total: int, first_ms: int, last_ms: int) -> list[tuple[str, int, int, str]]:
        times = _sorted_times(rng, count, first_ms, last_ms - first_ms)
        sizes = split_exact(total, _heavy_tail(rng, count))
        regions = rng.choices(_REGION_CODES, cum_weights=_REGION_CUM, k=count)
        return [(f"ds-{prefix}-{i:06d}", t, b, r) for i, (t, b, r) in enumerate(zip(times, sizes, regions, strict=True))]

    def owner(region: str) -> str:
        return f"{_OWNERS[int(rng.random() * len(_OWNERS))]}-{region[3:].lower()}"

    def parents_before(pool: list[tuple[str, int, int, str]], times: list[int], t: int, most: int) -> tuple[str, ...]:
        # Parents were registered before the child; the windows of the tiers make sure
        # some exist (the fallback to the tier's first dataset is only a guard).
        available = max(1, bisect.bisect_left(times, t))
        picked = rng.sample(range(available), min(available, 1 + int(rng.random() * most)))
        return tuple(pool[i][0] for i in sorted(picked))

    datasets: list[_Dataset] = []
    raw_all: list[tuple[str, int, int, str]] = []
    raw: dict[Source, tuple[str, ...]] = {}
    mid_2025 = _ms(date(2025, 7, 1))
    for source, prefix in ((Source.IOT, "iot"), (Source.AI, "ai")):
        rows = tier(prefix, seed_table.RAW_DATASETS[source], seed_table.RAW_REGISTERED_BYTES[source], start, mid_2025)
        raw[source] = tuple(r[0] for r in rows)
        raw_all.extend(rows)
        for ds_id, t, b, region in rows:
            grade = QualityGrade.STANDARD if rng.random() < 0.6 else QualityGrade.UNGRADED
            datasets.append(_Dataset(ds_id, t, owner(region), region, b, grade, None, ()))
    raw_all.sort(key=lambda r: r[1])
    raw_times = [r[1] for r in raw_all]

    hq = tier("hq", seed_table.HIGH_QUALITY_DATASETS, seed_table.HIGH_QUALITY_BYTES, start, end)
    hq_times = [r[1] for r in hq]
    for i, (ds_id, t, b, region) in enumerate(hq):
        # About half of the high-quality sets are curated from 1-3 raw datasets; the rest are roots.
        parents = parents_before(raw_all, raw_times, t, 3) if rng.random() < 0.55 and t > raw_times[0] else ()
        reg_id = f"DPR-{(_EPOCH + timedelta(t // _DAY_MS)).year}-{region[3:]}-{i:06d}"
        datasets.append(_Dataset(ds_id, t, owner(region), region, b, QualityGrade.HIGH, reg_id, parents))

    derived: dict[Source, tuple[_Dataset, ...]] = {}
    train = tier("train", seed_table.TRAINING_DATASETS, seed_table.TRAINING_REGISTERED_BYTES, start + 14 * _DAY_MS, end)
    infer = tier("infer", seed_table.INFERENCE_DATASETS, seed_table.INFERENCE_REGISTERED_BYTES, start + 31 * _DAY_MS, end)
    train_times = [r[1] for r in train]
    rows_train = [
        _Dataset(ds_id, t, owner(region), region, b, QualityGrade.STANDARD, None, parents_before(hq, hq_times, t, 3))
        for ds_id, t, b, region in train
    ]
    rows_infer = [
        _Dataset(
            ds_id,
            t,
            owner(region),
            region,
            b,
            QualityGrade.STANDARD if rng.random() < 0.5 else QualityGrade.UNGRADED,
            None,
            parents_before(train, train_times, t, 2),
        )
        for ds_id, t, b, region in infer
    ]
    derived[Source.TRAINING] = tuple(rows_train)
    derived[Source.INFERENCE] = tuple(rows_infer)
    datasets.extend(rows_train)
    datasets.extend(rows_infer)
    datasets.sort(key=lambda d: d.time_ms)

    edges = sorted(f"{p}>{d.dataset_id}\n" for d in datasets for p in d.parents)
    return _Catalog(
        datasets=tuple(datasets),
        raw=MappingProxyType(raw),
        derived_times=MappingProxyType({s: tuple(d.time_ms for d in rows) for s, rows in derived.items()}),
        derived=MappingProxyType(derived),
        edges=len(edges),
        edges_sha256=hashlib.sha256("".join(edges).encode()).hexdigest(),
    )


# --- the stream: events cut lazily from the plan ------------------------------------


def _event_id(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without building the UUID object (hot path)."""
    h = f"{(bits & _UUID_KEEP) | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    _catalog: _Catalog = field(repr=False)
    _data: Mapping[Source, tuple[_Period, ...]] = field(repr=False)
    _collection: Mapping[str, tuple[_Period, ...]] = field(repr=False)
    _tokens_per_day: int = field(repr=False)

    def __len__(self) -> int:
        return self.manifest.total_events

    def __iter__(self) -> Iterator[Event]:
        # One sorted stream per kind (and per source or pipeline), merged by time:
        # each keeps its own random generator, so no stream's cut depends on another's.
        streams: list[Iterator[Event]] = [self._registrations(), self._token_usage()]
        streams.extend(self._data_created(source) for source in _DATA_SOURCES)
        streams.extend(self._collection_runs(pipeline) for pipeline in seed_table.PIPELINES)
        return heapq.merge(*streams, key=_EVENT_TIME)

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/events/{name}")

    def _registrations(self) -> Iterator[DatasetRegistered]:
        bits = self._rng("registrations").getrandbits
        for d in self._catalog.datasets:
            yield DatasetRegistered(
                event_id=_event_id(bits(128)),
                event_time=d.time_ms,
                producer_id=self.producer_id,
                dataset_id=d.dataset_id,
                owner=d.owner,
                region=d.region,
                bytes=d.bytes,
                quality_grade=d.grade,
                registration_id=d.registration_id,
                parent_dataset_ids=d.parents,
            )

    def _dataset_picker(self, source: Source, rng: random.Random) -> Callable[[int], tuple[str, tuple[str, ...]]]:
        rand = rng.random
        if source in self._catalog.raw:
            ids = self._catalog.raw[source]
            return lambda _t: (ids[int(rand() * len(ids))], ())
        times = self._catalog.derived_times[source]
        rows = self._catalog.derived[source]

        def pick(t: int) -> tuple[str, tuple[str, ...]]:
            # Derived data goes into a dataset already registered at that time; before
            # the first one exists (the first weeks of 2024) it goes into the first.
            d = rows[int(rand() * max(1, bisect.bisect_right(times, t)))]
            return d.dataset_id, d.parents

        return pick

    def _data_created(self, source: Source) -> Iterator[DataCreated]:
        rng = self._rng(f"data/{source.value}")
        rand, bits = rng.random, rng.getrandbits
        orgs = _ORGANIZATIONS[source]
        pick = self._dataset_picker(source, rng)
        for period in self._data[source]:
            n = period.events
            times = _sorted_times(rng, n, period.start_ms, period.span_ms)
            regions = rng.choices(_REGION_CODES, cum_weights=_REGION_CUM, k=n)
            weights = [1.0 + rand() for _ in range(n)]  # in [1, 2): see _fits
            byte_parts = split_exact(period.amounts[0], weights)
            record_parts = split_exact(period.amounts[1], weights)
            for t, region, b, r in zip(times, regions, byte_parts, record_parts, strict=True):
                dataset_id, parents = pick(t)
                yield DataCreated(
                    event_id=_event_id(bits(128)),
                    event_time=t,
                    producer_id=self.producer_id,
                    source=source,
                    region=region,
                    organization=orgs[int(rand() * len(orgs))],
                    dataset_id=dataset_id,
                    bytes=b,
                    records=r,
                    parent_dataset_ids=parents,
                )

    def _token_usage(self) -> Iterator[TokenUsage]:
        rng = self._rng("tokens")
        rand, bits = rng.random, rng.getrandbits
        n = self._tokens_per_day
        for day, total in _token_days():
            inputs_total = total * seed_table.TOKEN_INPUT_PERCENT // 100
            times = _sorted_times(rng, n, _ms(day), _DAY_MS)
            cells = rng.choices(_TOKEN_CELLS, cum_weights=_TOKEN_CUM, k=n)
            weights = [1.0 + rand() for _ in range(n)]
            inputs = split_exact(inputs_total, weights)
            # The day's split is exactly 70/30; each event's leans by its model's verbosity.
            outputs = split_exact(total - inputs_total, [w * m.output_bias for w, (m, _) in zip(weights, cells, strict=True)])
            for t, (m, region), i, o in zip(times, cells, inputs, outputs, strict=True):
                yield TokenUsage(
                    event_id=_event_id(bits(128)),
                    event_time=t,
                    producer_id=self.producer_id,
                    model=m.model,
                    provider=m.provider,
                    region=region,
                    input_tokens=i,
                    output_tokens=o,
                )

    def _collection_runs(self, pipeline: seed_table.CollectionPipeline) -> Iterator[CollectionRun]:
        rng = self._rng(f"collection/{pipeline.pipeline_id}")
        rand, bits = rng.random, rng.getrandbits
        for period in self._collection[pipeline.pipeline_id]:
            attempted_total, lost_total, bytes_total, lost_bytes_total = period.amounts
            n = period.events
            times = _sorted_times(rng, n, period.start_ms, period.span_ms)
            attempted = split_exact(attempted_total, [1.0 + rand() for _ in range(n)])
            attempted_bytes = split_exact(bytes_total, [a * (0.8 + 0.4 * rand()) for a in attempted])
            # Loss factors in [0.75, 1.25) vary runs while keeping loss <= attempted: a run's
            # quota is below 5/3 of the period's loss share (<= 20.6 % + 1/attempted), so < 1.
            loss = [0.75 + 0.5 * rand() for _ in range(n)]
            lost = split_exact(lost_total, [a * z for a, z in zip(attempted, loss, strict=True)])
            lost_bytes = split_exact(lost_bytes_total, [b * z for b, z in zip(attempted_bytes, loss, strict=True)])
            for t, a, lo, b, lb in zip(times, attempted, lost, attempted_bytes, lost_bytes, strict=True):
                month = _EPOCH + timedelta(t // _DAY_MS)
                yield CollectionRun(
                    event_id=_event_id(bits(128)),
                    event_time=t,
                    producer_id=self.producer_id,
                    pipeline_id=pipeline.pipeline_id,
                    region=pipeline.region,
                    dataset_id=f"ds-robot-{pipeline.pipeline_id}-{month.year}{month.month:02d}",
                    attempted_captures=a,
                    usable_captures=a - lo,
                    attempted_bytes=b,
                    usable_bytes=b - lb,
                )


def generate(size: float = 1.0, seed: int = 2025, producer_id: str = "zl-national-generator") -> NationalStream:
    """The national stream for ``(size, seed)``; ``size`` 1.0 is about 461k events, 0.05 about 146k.

    Cheap to call: it plans the totals per period and builds the register (cached
    per seed, about a second); the events themselves are made while iterating.
    """
    if not (0 < size < float("inf")):
        raise ValueError(f"size={size!r}: must be a positive finite number (1.0 is about 460k events)")
    if not producer_id:
        raise ValueError("producer_id must not be empty")
    catalog = _catalog(seed)
    data = MappingProxyType({source: _data_plan(source, size) for source in _DATA_SOURCES})
    collection = MappingProxyType({p.pipeline_id: _collection_plan(p, size, seed) for p in seed_table.PIPELINES})
    tokens_per_day = max(1, round(_TOKEN_EVENTS_PER_DAY * size))
    manifest = _manifest(size, seed, catalog, data, collection, tokens_per_day)
    return NationalStream(size, seed, producer_id, manifest, catalog, data, collection, tokens_per_day)


def _manifest(
    size: float,
    seed: int,
    catalog: _Catalog,
    data: Mapping[Source, tuple[_Period, ...]],
    collection: Mapping[str, tuple[_Period, ...]],
    tokens_per_day: int,
) -> Manifest:
    # Summed from the plan the events are cut from; each cut is split_exact, so the
    # events add up to these to the unit.
    data_bytes: dict[tuple[int, Source], int] = {}
    data_records: dict[tuple[int, Source], int] = {}
    for source, periods in data.items():
        for p in periods:
            key = ((_EPOCH + timedelta(p.start_ms // _DAY_MS)).year, source)
            data_bytes[key] = data_bytes.get(key, 0) + p.amounts[0]
            data_records[key] = data_records.get(key, 0) + p.amounts[1]
    token_days = _token_days()
    inputs = sum(total * seed_table.TOKEN_INPUT_PERCENT // 100 for _, total in token_days)
    by_grade = {grade: 0 for grade in QualityGrade}
    for d in catalog.datasets:
        by_grade[d.grade] += 1
    high = [d.bytes for d in catalog.datasets if d.grade is QualityGrade.HIGH]
    pipelines = {}
    for pid, periods in collection.items():
        attempted = sum(p.amounts[0] for p in periods)
        attempted_bytes = sum(p.amounts[2] for p in periods)
        pipelines[pid] = PipelineTotals(
            attempted_captures=attempted,
            usable_captures=attempted - sum(p.amounts[1] for p in periods),
            attempted_bytes=attempted_bytes,
            usable_bytes=attempted_bytes - sum(p.amounts[3] for p in periods),
        )
    events = {
        "DataCreated": sum(p.events for periods in data.values() for p in periods),
        "TokenUsage": tokens_per_day * len(token_days),
        "DatasetRegistered": len(catalog.datasets),
        "CollectionRun": sum(p.events for periods in collection.values() for p in periods),
    }
    return Manifest(
        seed=seed,
        size=size,
        data_bytes=MappingProxyType(data_bytes),
        data_records=MappingProxyType(data_records),
        tokens_by_day=MappingProxyType(dict(token_days)),
        input_tokens=inputs,
        output_tokens=sum(total for _, total in token_days) - inputs,
        registrations=len(catalog.datasets),
        registrations_by_grade=MappingProxyType(by_grade),
        high_quality_datasets=len(high),
        high_quality_bytes=sum(high),
        collection=MappingProxyType(pipelines),
        lineage_edges=catalog.edges,
        lineage_sha256=catalog.edges_sha256,
        events_by_type=MappingProxyType(events),
    )
