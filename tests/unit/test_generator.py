"""The national generator: its events add up to the seed table exactly, at every size."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zettaledger.producers import seed
from zettaledger.producers.generator import MAX_EVENT_BYTES, Manifest, PipelineTotals, generate, split_exact
from zettaledger.schemas.models import CollectionRun, DataCreated, DatasetRegistered, Event, QualityGrade, Source, TokenUsage
from zettaledger.schemas.validation import check

SMALL = 0.02
LATEST_MS = int(datetime(2026, 11, 15, tzinfo=UTC).timestamp() * 1000)
FIRST_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
END_MS = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def full() -> Manifest:
    return generate(1.0).manifest


@pytest.fixture(scope="module")
def small_events() -> list[Event]:
    return list(generate(SMALL))


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _sums(events: list[Event]) -> dict[str, Any]:
    """Everything the manifest claims, recomputed from the events alone."""
    data_bytes: Counter[tuple[int, Source]] = Counter()
    data_records: Counter[tuple[int, Source]] = Counter()
    tokens: Counter[date] = Counter()
    inputs = outputs = 0
    grades: Counter[QualityGrade] = Counter()
    high_bytes = 0
    collection: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    edges: set[tuple[str, str]] = set()
    by_type: Counter[str] = Counter()
    for e in events:
        by_type[e.schema_name] += 1
        if isinstance(e, DataCreated):
            key = (_utc(e.event_time).year, e.source)
            data_bytes[key] += e.bytes
            data_records[key] += e.records
            edges.update((p, e.dataset_id) for p in e.parent_dataset_ids)
        elif isinstance(e, TokenUsage):
            tokens[_utc(e.event_time).date()] += e.input_tokens + e.output_tokens
            inputs += e.input_tokens
            outputs += e.output_tokens
        elif isinstance(e, DatasetRegistered):
            grades[e.quality_grade] += 1
            if e.quality_grade is QualityGrade.HIGH:
                high_bytes += e.bytes
            edges.update((p, e.dataset_id) for p in e.parent_dataset_ids)
        else:
            c = collection[e.pipeline_id]
            c[0] += e.attempted_captures
            c[1] += e.usable_captures
            c[2] += e.attempted_bytes
            c[3] += e.usable_bytes
    digest = hashlib.sha256("".join(sorted(f"{p}>{c}\n" for p, c in edges)).encode()).hexdigest()
    return {
        "data_bytes": dict(data_bytes),
        "data_records": dict(data_records),
        "tokens_by_day": dict(tokens),
        "input_tokens": inputs,
        "output_tokens": outputs,
        "registrations": sum(grades.values()),
        "registrations_by_grade": {g: grades[g] for g in QualityGrade},
        "high_quality_datasets": grades[QualityGrade.HIGH],
        "high_quality_bytes": high_bytes,
        "collection": {pid: PipelineTotals(*c) for pid, c in collection.items()},
        "lineage_edges": len(edges),
        "lineage_sha256": digest,
        "events_by_type": dict(by_type),
    }


def _figures(m: Manifest) -> dict[str, Any]:
    """The manifest as plain values, without what depends on the size (event counts)."""
    return {
        "data_bytes": dict(m.data_bytes),
        "data_records": dict(m.data_records),
        "tokens_by_day": dict(m.tokens_by_day),
        "input_tokens": m.input_tokens,
        "output_tokens": m.output_tokens,
        "registrations": m.registrations,
        "registrations_by_grade": dict(m.registrations_by_grade),
        "high_quality_datasets": m.high_quality_datasets,
        "high_quality_bytes": m.high_quality_bytes,
        "collection": dict(m.collection),
        "lineage_edges": m.lineage_edges,
        "lineage_sha256": m.lineage_sha256,
    }


# --- the seed table -------------------------------------------------------------------


def test_2025_data_created_is_52_26_zb_and_grows_27_28_percent(full: Manifest) -> None:
    assert full.data_bytes_in(2025) == 52_260 * seed.EB
    assert full.data_bytes_in(2024) == 41_060 * seed.EB
    growth = (Fraction(full.data_bytes_in(2025), full.data_bytes_in(2024)) - 1) * 100
    assert round(growth, 2) == Fraction(2728, 100)


def test_ai_overtakes_iot_in_2025_and_inference_overtakes_training(full: Manifest) -> None:
    b = full.data_bytes
    assert b[(2025, Source.AI)] == 26_920 * seed.EB > b[(2025, Source.IOT)]
    assert b[(2024, Source.IOT)] > b[(2024, Source.AI)]
    assert b[(2025, Source.IOT)] == 25_140_520 * seed.PB
    assert b[(2025, Source.INFERENCE)] > b[(2025, Source.TRAINING)]
    assert b[(2024, Source.INFERENCE)] < b[(2024, Source.TRAINING)]
    assert all(full.data_records[key] > 0 for key in b)


def test_token_anchors_and_march_2026(full: Manifest) -> None:
    t = full.tokens_by_day
    assert len(t) == (date(2026, 3, 31) - date(2024, 1, 1)).days + 1 == 821
    assert t[date(2024, 1, 1)] == 10**11
    assert t[date(2025, 1, 1)] == 1_020_000_000_000 > 10**12
    assert t[date(2025, 12, 31)] == 10**14
    march = [v for d, v in t.items() if (d.year, d.month) == (2026, 3)]
    assert march == [140_000_000_000_000] * 31
    average = Fraction(sum(march), len(march))
    assert average / t[date(2025, 12, 31)] == Fraction(14, 10)
    assert average / t[date(2024, 1, 1)] == 1400
    jan_feb = [t[date(2026, 1, 1) + timedelta(i)] for i in range(59)]
    assert jan_feb == sorted(jan_feb)
    assert jan_feb[0] > 10**14 and jan_feb[-1] < 140_000_000_000_000
    assert full.input_tokens + full.output_tokens == sum(t.values())
    assert abs(Fraction(full.input_tokens, sum(t.values())) - Fraction(7, 10)) < Fraction(1, 10**9)


def test_high_quality_datasets_hold_890_56_pb_about_310_national_libraries(full: Manifest) -> None:
    assert full.high_quality_datasets == 101_268
    assert full.high_quality_bytes == 890_560 * 10**12
    assert round(full.high_quality_bytes / seed.NATIONAL_LIBRARY_DIGITAL_BYTES) == 310
    others = full.registrations - full.high_quality_datasets
    assert 11_000 <= others <= 13_000
    assert full.registrations_by_grade[QualityGrade.STANDARD] > 0
    assert full.registrations_by_grade[QualityGrade.UNGRADED] > 0


def test_best_collection_pipeline_keeps_exactly_95_percent(full: Manifest) -> None:
    ratios = {pid: Fraction(t.usable_captures, t.attempted_captures) for pid, t in full.collection.items()}
    assert len(ratios) == 5
    assert max(ratios.values()) == Fraction(95, 100)
    assert sorted(ratios.values(), reverse=True)[1:] == [Fraction(n, 10_000) for n in (9_120, 8_850, 8_400, 7_940)]
    for t in full.collection.values():
        assert Fraction(t.usable_bytes, t.attempted_bytes) <= Fraction(95, 100)


def test_full_size_is_about_half_a_million_events(full: Manifest) -> None:
    assert 400_000 <= full.total_events <= 600_000
    assert full.events_by_type["DatasetRegistered"] == full.registrations


# --- the events add up to the manifest ------------------------------------------------


def test_manifest_equals_sums_over_the_events(small_events: list[Event]) -> None:
    manifest = generate(SMALL).manifest
    assert _sums(small_events) == {**_figures(manifest), "events_by_type": dict(manifest.events_by_type)}
    assert len(small_events) == len(generate(SMALL)) == manifest.total_events


def test_figures_are_the_same_at_every_size(full: Manifest) -> None:
    assert _figures(generate(SMALL).manifest) == _figures(full) == _figures(generate(0.37).manifest)
    assert generate(SMALL).manifest.total_events < full.total_events


def test_a_period_too_big_for_one_avro_long_is_reported_as_several_events() -> None:
    # At this size IoT reports monthly: ~2e21 bytes a month need hundreds of events.
    stream = generate(0.0001)
    data = [e for e in stream if isinstance(e, DataCreated)]
    assert max(e.bytes for e in data) <= MAX_EVENT_BYTES
    assert max(e.bytes for e in data) > MAX_EVENT_BYTES // 4
    assert sum(e.bytes for e in data) == sum(stream.manifest.data_bytes.values())
    assert sum(e.records for e in data) == sum(stream.manifest.data_records.values())


def test_no_event_exceeds_an_avro_long(small_events: list[Event]) -> None:
    for e in small_events:
        if isinstance(e, DataCreated | DatasetRegistered):
            assert e.bytes <= MAX_EVENT_BYTES
        if isinstance(e, DataCreated):
            assert e.records <= MAX_EVENT_BYTES


def test_json_manifest_holds_only_ints_and_strings(full: Manifest) -> None:
    def leaves(value: object) -> list[object]:
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            return [leaf for v in value.values() for leaf in leaves(v)]
        return [value]

    doc = full.to_json()
    assert all(type(leaf) in (int, str) for leaf in leaves(doc))
    assert json.loads(json.dumps(doc)) == doc
    assert doc["data_created"]["2025"]["AI"]["bytes"] == 26_920 * seed.EB
    assert doc["events"]["total"] == full.total_events


# --- every event is one the worker accepts ---------------------------------------------


def test_every_event_passes_validation(small_events: list[Event]) -> None:
    for e in small_events:
        check(e.schema_name, e.to_avro(), LATEST_MS)


def test_events_come_in_time_order_within_the_accounting_window(small_events: list[Event]) -> None:
    times = [e.event_time for e in small_events]
    assert times == sorted(times)
    assert times[0] >= FIRST_MS and times[-1] < END_MS
    registered = [e.event_time for e in small_events if isinstance(e, DatasetRegistered)]
    assert _utc(min(registered)).year == 2024 and _utc(max(registered)).year == 2025
    runs = [e.event_time for e in small_events if isinstance(e, CollectionRun)]
    assert {_utc(t).year for t in runs} == {2025}


def test_collection_runs_never_keep_more_than_they_attempt(small_events: list[Event]) -> None:
    runs = [e for e in small_events if isinstance(e, CollectionRun)]
    assert runs
    assert all(r.usable_captures <= r.attempted_captures and r.usable_bytes <= r.attempted_bytes for r in runs)
    assert len({Fraction(r.usable_captures, r.attempted_captures) for r in runs if r.attempted_captures}) > 100


def test_same_seed_same_events_other_seed_other_ids() -> None:
    first = [e.event_id for _, e in zip(range(100), generate(SMALL), strict=False)]
    again = [e.event_id for _, e in zip(range(100), generate(SMALL), strict=False)]
    other = [e.event_id for _, e in zip(range(100), generate(SMALL, seed=7), strict=False)]
    assert first == again
    assert not set(first) & set(other)
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in first)


def test_event_ids_are_unique(small_events: list[Event]) -> None:
    assert len({e.event_id for e in small_events}) == len(small_events)


# --- lineage ---------------------------------------------------------------------------


def test_every_dataset_is_registered_once(small_events: list[Event]) -> None:
    ids = Counter(e.dataset_id for e in small_events if isinstance(e, DatasetRegistered))
    assert ids.most_common(1)[0][1] == 1


def test_lineage_is_an_acyclic_graph_four_levels_deep(small_events: list[Event]) -> None:
    parents: dict[str, set[str]] = defaultdict(set)
    registered = {e.dataset_id: e for e in small_events if isinstance(e, DatasetRegistered)}
    for e in small_events:
        if isinstance(e, DataCreated | DatasetRegistered):
            assert e.dataset_id not in e.parent_dataset_ids
            parents[e.dataset_id].update(e.parent_dataset_ids)
        if isinstance(e, DataCreated):
            # Derived data carries its dataset's lineage; raw data has none.
            expected = registered[e.dataset_id].parent_dataset_ids if e.dataset_id in registered else ()
            assert e.parent_dataset_ids == expected
            assert bool(expected) == (e.source in (Source.TRAINING, Source.INFERENCE))

    depth: dict[str, int] = {}

    def level(node: str, path: frozenset[str]) -> int:
        assert node not in path, f"cycle through {node}"
        if node not in depth:
            depth[node] = 1 + max((level(p, path | {node}) for p in parents.get(node, ())), default=0)
        return depth[node]

    assert max(level(node, frozenset()) for node in list(parents)) == 4
    assert all(p in registered for ps in parents.values() for p in ps)


# --- split_exact -----------------------------------------------------------------------

_weights = st.one_of(
    st.lists(st.integers(min_value=0, max_value=10**30), min_size=1, max_size=40),
    st.lists(st.floats(min_value=0, max_value=1e30, allow_nan=False, allow_infinity=False), min_size=1, max_size=40),
).filter(lambda ws: any(w > 0 for w in ws))


@given(total=st.integers(min_value=0, max_value=10**25), weights=_weights)
def test_split_exact_sums_exactly_and_stays_within_one_unit_of_the_quota(total: int, weights: list[int | float]) -> None:
    parts = split_exact(total, weights)
    assert len(parts) == len(weights)
    assert sum(parts) == total
    assert all(isinstance(p, int) and p >= 0 for p in parts)
    weight_sum = sum(Fraction(w) for w in weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - total * Fraction(w) / weight_sum) < 1


@given(total=st.integers(min_value=0, max_value=10**6), count=st.integers(min_value=1, max_value=30))
def test_split_exact_of_equal_weights_differs_by_at_most_one(total: int, count: int) -> None:
    parts = split_exact(total, [1] * count)
    assert max(parts) - min(parts) <= 1
    assert parts == sorted(parts, reverse=True)  # ties go to the earlier index


@pytest.mark.parametrize(
    ("total", "weights"),
    [(-1, [1]), (5, [0, 0]), (5, []), (5, [1, -1]), (5, [1.0, float("nan")]), (5, [float("inf")])],
)
def test_split_exact_refuses_what_it_cannot_split(total: int, weights: list[int | float]) -> None:
    with pytest.raises(ValueError):
        split_exact(total, weights)


def test_split_exact_of_nothing_is_zeros() -> None:
    assert split_exact(0, [0, 0]) == [0, 0]
    assert split_exact(0, []) == []


def test_a_labelled_share_of_derived_data_is_replicated_and_no_figure_moves(small_events: list[Event]) -> None:
    from zettaledger.schemas.models import Derivation
    from zettaledger.statistics.provenance import footnotes

    derived = [e for e in small_events if isinstance(e, DataCreated) and e.parent_dataset_ids]
    copies = [e for e in derived if e.derivation == Derivation.COPY]
    assert 0.07 < len(copies) / len(derived) < 0.13  # the assumed 10 %, drawn from the event ids
    assert not any(e.derivation for e in small_events if isinstance(e, DataCreated) and not e.parent_dataset_ids)
    manifest = generate(SMALL).manifest.to_json()
    assert manifest["lineage"]["replicated_per_mille"] == {"TRAINING": 100, "INFERENCE": 100}
    (note,) = [f for f in footnotes(manifest) if f.figure == "lineage/replicated"]
    assert note.flag == "assumed" and "assumption" in note.note
