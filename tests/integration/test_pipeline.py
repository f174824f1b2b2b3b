"""Events through the real broker, the Faust worker and chDB, checked in ClickHouse to the byte."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.integration.conftest import Pipeline
from zettaledger.producers.generator import generate
from zettaledger.producers.producer import EventProducer
from zettaledger.schemas import DataCreated, EventCodec, Source
from zettaledger.settings import REPO_ROOT
from zettaledger.sinks.client import Client
from zettaledger.sinks.queries import NationalAccounts, read_national_accounts

pytestmark = pytest.mark.integration

T0 = 1_735_689_600_000  # 2025-01-01


def accounts_of(pipeline: Pipeline, open_chdb: Callable[[Path], Client]) -> NationalAccounts:
    path = Path(pipeline.settings.clickhouse_dsn.removeprefix("chdb://"))
    return read_national_accounts(open_chdb(path), pipeline.settings.clickhouse_database)


def created(bytes_: int, event_id: str | None = None, dataset: str = "ds-1") -> DataCreated:
    return DataCreated(event_id or str(uuid.uuid4()), T0, "it", Source.AI, "CN-GD", "org", dataset, bytes_, 1)


class DeadLetter(NamedTuple):
    headers: dict[str, str]
    value: bytes  # the original message, as it was sent


def dead_letters(pipeline: Pipeline, expected: int) -> list[DeadLetter]:
    consumer = KafkaConsumer(
        pipeline.settings.topic_dead_letter,
        bootstrap_servers=pipeline.settings.kafka_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    letters: list[DeadLetter] = []
    try:
        for record in consumer:
            letters.append(DeadLetter({k: v.decode() for k, v in record.headers}, record.value))
            if len(letters) >= expected:
                break
    finally:
        consumer.close()
    return letters


def test_the_national_stream_reaches_clickhouse_exact_to_the_byte(
    pipeline: Pipeline, open_chdb: Callable[[Path], Client]
) -> None:
    national = generate(size=0.02, seed=7)
    manifest = national.manifest
    started = time.perf_counter()
    with EventProducer(pipeline.settings, "it-national", batch_events=1000, check_events=False) as producer:
        producer.add_all(national)
    pipeline.run_worker()
    print(f"\n{manifest.total_events} events produced and ingested in {time.perf_counter() - started:.1f}s")

    accounts = accounts_of(pipeline, open_chdb)
    for (year, source), expected in manifest.data_bytes.items():
        assert accounts.created[(year, source.value)][0] == expected, (year, source)
        assert accounts.created[(year, source.value)][1] == manifest.data_records[(year, source)]
    assert accounts.created_total(2025) == 52_260 * 10**18
    assert accounts.created_total(2024) == 41_060 * 10**18
    assert accounts.created_by(2025, "AI") == 26_920 * 10**18 > accounts.created_by(2025, "IOT")
    assert accounts.created_by(2025, "INFERENCE") == 101_340 * 10**15
    assert accounts.created_by(2025, "TRAINING") == 98_140 * 10**15
    assert accounts.tokens_by_day == dict(manifest.tokens_by_day)
    assert accounts.tokens_by_day[dt.date(2024, 1, 1)] == 10**11
    assert accounts.tokens_by_day[dt.date(2025, 12, 31)] == 10**14
    assert accounts.tokens_month_average(2026, 3) == (31 * 14 * 10**13, 31)
    assert (accounts.high_quality_datasets, accounts.high_quality_bytes) == (101_268, 890_560 * 10**12)
    assert accounts.registered_datasets == manifest.registrations
    by_pipeline = {c.pipeline_id: c for c in accounts.collection}
    for pipeline_id, totals in manifest.collection.items():
        got = by_pipeline[pipeline_id]
        assert (got.attempted_captures, got.usable_captures, got.attempted_bytes, got.usable_bytes) == (
            totals.attempted_captures,
            totals.usable_captures,
            totals.attempted_bytes,
            totals.usable_bytes,
        )
    assert max(c.usable_captures * 10_000 // c.attempted_captures for c in accounts.collection) == 9_500
    assert accounts.lineage.edges == manifest.lineage_edges
    assert accounts.events_counted == manifest.total_events
    assert (accounts.duplicates_dropped, accounts.dead_lettered) == (0, 0)


def test_malformed_events_land_in_the_dead_letter_topic_with_their_reason(
    pipeline: Pipeline, open_chdb: Callable[[Path], Client]
) -> None:
    codec = EventCodec()
    raw = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_servers)
    raw.send(pipeline.settings.topic_events, value=b"not avro at all", key=b"k")
    negative = created(5).to_avro() | {"bytes": -7}
    raw.send(pipeline.settings.topic_events, value=codec.encode("DataCreated", negative), key=b"ds-1")
    raw.flush()
    raw.close()
    with EventProducer(pipeline.settings, "it") as producer:
        producer.send(created(11))
    pipeline.run_worker()

    letters = sorted(dead_letters(pipeline, expected=2), key=lambda d: d.headers["zl.error.code"])
    assert [(d.headers["zl.error.code"], d.headers["zl.error.field"]) for d in letters] == [
        ("invalid_field", "bytes"),
        ("not_single_object", "<payload>"),
    ]
    assert letters[0].headers["zl.error.value"] == "-7" and letters[0].headers["zl.error.reason"] == "must be >= 0"
    assert letters[1].value == b"not avro at all"  # the original bytes, nothing lost
    accounts = accounts_of(pipeline, open_chdb)
    assert accounts.created[(2025, "AI")] == (11, 1)
    assert accounts.dead_lettered == 2


def test_a_duplicate_event_id_is_counted_once(pipeline: Pipeline, open_chdb: Callable[[Path], Client]) -> None:
    event_id = str(uuid.uuid4())
    with EventProducer(pipeline.settings, "it") as producer:
        producer.send(created(1000, event_id))
        producer.send(created(1000, event_id))  # a producer's resend at a new offset
        producer.add(created(1000, event_id))  # and once more inside a batch
        producer.add(created(1))
    pipeline.run_worker()
    accounts = accounts_of(pipeline, open_chdb)
    assert accounts.created[(2025, "AI")][0] == 1001
    assert accounts.duplicates_dropped == 2


def test_sums_above_two_to_the_64_bytes_stay_exact(pipeline: Pipeline, open_chdb: Callable[[Path], Client]) -> None:
    biggest = 2**63 - 1  # the largest Avro long: 9.22 EB in one event
    with EventProducer(pipeline.settings, "it") as producer:
        for i in range(7):
            producer.add(created(biggest, dataset=f"ds-{i}"))
    pipeline.run_worker()
    total = accounts_of(pipeline, open_chdb).created[(2025, "AI")][0]
    assert total == 7 * biggest
    assert total > 2**64


def test_a_restarted_worker_counts_only_what_is_new(pipeline: Pipeline, open_chdb: Callable[[Path], Client]) -> None:
    with EventProducer(pipeline.settings, "it") as producer:
        for _ in range(50):
            producer.add(created(3))
    pipeline.run_worker()
    with EventProducer(pipeline.settings, "it") as producer:
        for _ in range(20):
            producer.send(created(5))
    pipeline.run_worker()
    accounts = accounts_of(pipeline, open_chdb)
    assert accounts.created[(2025, "AI")] == (50 * 3 + 20 * 5, 70)
    assert accounts.events_counted == 70


def test_a_stop_that_overruns_its_deadline_exits_with_the_stacks_in_the_log(pipeline: Pipeline) -> None:
    # The failpoint blocks the stop itself (the event loop included), as a wait on the broker that never ends would.
    env = {**pipeline.env, "ZL_SHUTDOWN_TIMEOUT_S": "2", "ZL_FAILPOINTS": "during_stop=pause:600@1"}
    worker = subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", "worker", "--until-caught-up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert worker.returncode == 75, worker.stderr[-3000:]
    assert "graceful shutdown did not finish within ZL_SHUTDOWN_TIMEOUT_S=2s" in worker.stderr
    assert "--- thread MainThread" in worker.stderr
    assert 'failpoints.py", line' in worker.stderr and "in pause" in worker.stderr  # where the stop was stuck
