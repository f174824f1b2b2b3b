"""The register: every dataset once, in registration-time order, with its lineage.

The register does not depend on the stream's size: the same datasets (and the same
parent -> child edges) at every size, so the lineage figures never move.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from zettaledger.producers import seed as seed_table
from zettaledger.producers.apportion import split_exact
from zettaledger.producers.timeline import DAY_MS, ms, sorted_times, utc_day
from zettaledger.schemas.models import QualityGrade, Source

__all__ = ["REGION_CODES", "REGION_CUM", "Catalog", "Dataset", "catalog"]

REGION_CODES: Final = tuple(code for code, _ in seed_table.REGIONS)
REGION_CUM: Final = tuple(itertools.accumulate(w for _, w in seed_table.REGIONS))  # cum_weights for rng.choices

_OWNERS: Final = ("data-exchange", "public-data-operator", "research-institute", "industry-alliance", "state-enterprise")


@dataclass(frozen=True, slots=True)
class Dataset:
    dataset_id: str
    time_ms: int
    owner: str
    region: str
    bytes: int
    grade: QualityGrade
    registration_id: str | None
    parents: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """The register: every dataset once, in registration-time order, with its lineage."""

    datasets: tuple[Dataset, ...]
    raw: Mapping[Source, tuple[str, ...]]
    derived_times: Mapping[Source, tuple[int, ...]]  # TRAINING / INFERENCE, sorted
    derived: Mapping[Source, tuple[Dataset, ...]]
    edges: int
    edges_sha256: str


def _heavy_tail(rng: random.Random, count: int) -> list[float]:
    # Pareto-like sizes from one division: a few datasets are ~20x the median.
    return [1.0 / (0.05 + rng.random()) for _ in range(count)]


@lru_cache(maxsize=2)
def catalog(seed_value: int) -> Catalog:
    """The register for ``seed_value``: the same 113,268 datasets at every size."""
    rng = random.Random(f"{seed_value}/catalog")
    start = ms(seed_table.REGISTRATION_FIRST_DAY)
    end = ms(seed_table.REGISTRATION_LAST_DAY + timedelta(1))

    def tier(prefix: str, count: int, total: int, first_ms: int, last_ms: int) -> list[tuple[str, int, int, str]]:
        times = sorted_times(rng, count, first_ms, last_ms - first_ms)
        sizes = split_exact(total, _heavy_tail(rng, count))
        regions = rng.choices(REGION_CODES, cum_weights=REGION_CUM, k=count)
        return [(f"ds-{prefix}-{i:06d}", t, b, r) for i, (t, b, r) in enumerate(zip(times, sizes, regions, strict=True))]

    def owner(region: str) -> str:
        return f"{_OWNERS[int(rng.random() * len(_OWNERS))]}-{region[3:].lower()}"

    def parents_before(pool: list[tuple[str, int, int, str]], times: list[int], t: int, most: int) -> tuple[str, ...]:
        # Parents were registered before the child; the windows of the tiers make sure
        # some exist (the fallback to the tier's first dataset is only a guard).
        available = max(1, bisect.bisect_left(times, t))
        picked = rng.sample(range(available), min(available, 1 + int(rng.random() * most)))
        return tuple(pool[i][0] for i in sorted(picked))

    datasets: list[Dataset] = []
    raw_all: list[tuple[str, int, int, str]] = []
    raw: dict[Source, tuple[str, ...]] = {}
    mid_2025 = ms(date(2025, 7, 1))
    for source, prefix in ((Source.IOT, "iot"), (Source.AI, "ai")):
        rows = tier(prefix, seed_table.RAW_DATASETS[source], seed_table.RAW_REGISTERED_BYTES[source], start, mid_2025)
        raw[source] = tuple(r[0] for r in rows)
        raw_all.extend(rows)
        for ds_id, t, b, region in rows:
            grade = QualityGrade.STANDARD if rng.random() < 0.6 else QualityGrade.UNGRADED
            datasets.append(Dataset(ds_id, t, owner(region), region, b, grade, None, ()))
    raw_all.sort(key=lambda r: r[1])
    raw_times = [r[1] for r in raw_all]

    hq = tier("hq", seed_table.HIGH_QUALITY_DATASETS, seed_table.HIGH_QUALITY_BYTES, start, end)
    hq_times = [r[1] for r in hq]
    for i, (ds_id, t, b, region) in enumerate(hq):
        # About half of the high-quality sets are curated from 1-3 raw datasets; the rest are roots.
        parents = parents_before(raw_all, raw_times, t, 3) if rng.random() < 0.55 and t > raw_times[0] else ()
        reg_id = f"DPR-{utc_day(t).year}-{region[3:]}-{i:06d}"
        datasets.append(Dataset(ds_id, t, owner(region), region, b, QualityGrade.HIGH, reg_id, parents))

    derived: dict[Source, tuple[Dataset, ...]] = {}
    train = tier("train", seed_table.TRAINING_DATASETS, seed_table.TRAINING_REGISTERED_BYTES, start + 14 * DAY_MS, end)
    infer = tier("infer", seed_table.INFERENCE_DATASETS, seed_table.INFERENCE_REGISTERED_BYTES, start + 31 * DAY_MS, end)
    train_times = [r[1] for r in train]
    rows_train = [
        Dataset(ds_id, t, owner(region), region, b, QualityGrade.STANDARD, None, parents_before(hq, hq_times, t, 3))
        for ds_id, t, b, region in train
    ]
    rows_infer = [
        Dataset(
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
    return Catalog(
        datasets=tuple(datasets),
        raw=MappingProxyType(raw),
        derived_times=MappingProxyType({s: tuple(d.time_ms for d in rows) for s, rows in derived.items()}),
        derived=MappingProxyType(derived),
        edges=len(edges),
        edges_sha256=hashlib.sha256("".join(edges).encode()).hexdigest(),
    )
