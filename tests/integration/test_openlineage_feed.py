"""The OpenLineage feed on the real broker and chDB: batches taken by aiokafka, offsets owned by the ledger.

A worker killed right after a ledger insert (before Kafka heard of it) is restarted: it resumes
each partition just past the ledger's watermark (it replays nothing), every run counts once
(checked against a truth read from the topic with the standard library), and Kafka's offsets of
the feed's own group end where the topic ends.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.faults.lineage import check, produce_openlineage
from tests.integration.conftest import Pipeline
from zettaledger.settings import REPO_ROOT, Settings
from zettaledger.sinks.client import connect
from zettaledger.sinks.writer import LedgerWriter
from zettaledger.streams.worker import end_offsets

pytestmark = pytest.mark.integration


def _worker(env: dict[str, str], timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", "worker", "--until-caught-up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO_ROOT,
    )


def _stats(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    line = next(x for x in reversed(result.stderr.splitlines()) if x.startswith("ZL-WORKER-STATS "))
    return dict(json.loads(line.split(" ", 1)[1]))


def _ledger_marks(settings: Settings) -> dict[int, int]:
    client = connect(settings.clickhouse_dsn)
    try:
        return LedgerWriter(client, settings.clickhouse_database).watermarks(settings.topic_openlineage)
    finally:
        client.close()


def _committed(settings: Settings) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, group_id=settings.openlineage_group)
    try:
        parts = sorted(consumer.partitions_for_topic(settings.topic_openlineage) or ())
        return {p: consumer.committed(TopicPartition(settings.topic_openlineage, p)) for p in parts}
    finally:
        consumer.close()


def test_a_worker_killed_after_a_ledger_insert_resumes_past_it_and_counts_every_run_once(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    sent = produce_openlineage(settings, 150, seed=21)  # resends, RUNNING then COMPLETE, FAIL, copies
    env = {**pipeline.env, "ZL_BATCH_MAX_MESSAGES": "20"}  # several flushes a take, several takes

    killed = _worker({**env, "ZL_FAILPOINTS": "after_ledger_insert=kill@3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    written = _ledger_marks(settings)
    committed = _committed(settings)
    # The crash left Kafka's offsets behind the ledger's: a resume from Kafka alone would replay.
    assert written and any((committed.get(p) or 0) < o + 1 for p, o in written.items())

    resumed = _worker(env)
    assert resumed.returncode == 0, resumed.stderr[-5000:]
    stats = _stats(resumed)
    assert stats["replayed_messages"] == 0  # sought past the ledger's watermarks, not re-read
    assert stats["events"] == sent - sum(o + 1 for o in written.values())
    _, problems = check(settings)
    assert problems == []
    ends = end_offsets(settings, settings.topic_openlineage)
    assert _ledger_marks(settings) == {p: o - 1 for p, o in ends.items() if o > 0}
    committed = _committed(settings)
    assert {p: committed[p] for p, o in ends.items() if o > 0} == {p: o for p, o in ends.items() if o > 0}  # Kafka caught up too
