"""What a stream's events add up to, exactly, summed from its plan without building an event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from zettaledger.producers import seed as seed_table
from zettaledger.producers.plan import Plan, token_days
from zettaledger.producers.timeline import utc_day
from zettaledger.schemas.models import QualityGrade, Source

__all__ = ["Manifest", "PipelineTotals", "build_manifest"]


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
            "lineage": {
                "edges": self.lineage_edges,
                "sha256": self.lineage_sha256,
                # An assumption of the generator, not a published figure (producers/seed.py).
                "replicated_per_mille": {str(s): n for s, n in seed_table.REPLICATED_PER_MILLE.items()},
            },
            "events": {"by_type": dict(self.events_by_type), "total": self.total_events},
        }


def build_manifest(size: float, seed: int, plan: Plan) -> Manifest:
    """Sum the plan the events are cut from; each cut is ``split_exact``, so the events add up to these to the unit."""
    data_bytes: dict[tuple[int, Source], int] = {}
    data_records: dict[tuple[int, Source], int] = {}
    for source, periods in plan.data.items():
        for p in periods:
            key = (utc_day(p.start_ms).year, source)
            data_bytes[key] = data_bytes.get(key, 0) + p.amounts[0]
            data_records[key] = data_records.get(key, 0) + p.amounts[1]
    days = token_days()
    inputs = sum(total * seed_table.TOKEN_INPUT_PERCENT // 100 for _, total in days)
    datasets = plan.catalog.datasets
    by_grade = {grade: 0 for grade in QualityGrade}
    for d in datasets:
        by_grade[d.grade] += 1
    high = [d.bytes for d in datasets if d.grade is QualityGrade.HIGH]
    pipelines = {}
    for pid, periods in plan.collection.items():
        attempted = sum(p.amounts[0] for p in periods)
        attempted_bytes = sum(p.amounts[2] for p in periods)
        pipelines[pid] = PipelineTotals(
            attempted_captures=attempted,
            usable_captures=attempted - sum(p.amounts[1] for p in periods),
            attempted_bytes=attempted_bytes,
            usable_bytes=attempted_bytes - sum(p.amounts[3] for p in periods),
        )
    events = {
        "DataCreated": sum(p.events for periods in plan.data.values() for p in periods),
        "TokenUsage": plan.tokens_per_day * len(days),
        "DatasetRegistered": len(datasets),
        "CollectionRun": sum(p.events for periods in plan.collection.values() for p in periods),
    }
    return Manifest(
        seed=seed,
        size=size,
        data_bytes=MappingProxyType(data_bytes),
        data_records=MappingProxyType(data_records),
        tokens_by_day=MappingProxyType(dict(days)),
        input_tokens=inputs,
        output_tokens=sum(total for _, total in days) - inputs,
        registrations=len(datasets),
        registrations_by_grade=MappingProxyType(by_grade),
        high_quality_datasets=len(high),
        high_quality_bytes=sum(high),
        collection=MappingProxyType(pipelines),
        lineage_edges=plan.catalog.edges,
        lineage_sha256=plan.catalog.edges_sha256,
        events_by_type=MappingProxyType(events),
    )
