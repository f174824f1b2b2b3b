"""Acceptance for issue 11: the real ``openlineage-python`` client (KafkaTransport, confluent-kafka) sends a small
DAG to the real broker, the worker ingests it, and every account and traversal is checked to the byte.

The DAG (all in 2025, dataset namespace s3://lake):

    ingest (IOT, CN-GD)        -> raw          1,000 B   ORIGINAL   START, COMPLETE, and the COMPLETE resent
    load_ref (OTHER, unknown)  -> ref          3,000 B   ORIGINAL
    clean (TRAINING, CN-GD)    raw -> clean      600 B   DERIVED    statistics on RUNNING, COMPLETE without them
    replicate_clean (CN-BJ)    clean -> copy     600 B   COPY       a copy job by its name
    train (AI)                 clean -> lost     999 B   FAIL       counts nothing
    infer (INFERENCE, CN-SH)   clean, ref -> predictions 2,000 B DERIVED

plus one message that is not JSON, sent beside the client: dead-lettered, never counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from kafka import KafkaProducer

from harness.openlineage_events import run_event_object, run_id
from tests.integration.conftest import Pipeline
from zettaledger.settings import REPO_ROOT
from zettaledger.sinks.client import connect
from zettaledger.sinks.lineage_graph import ClickHouseGraph
from zettaledger.sinks.lineage_queries import attribute, impact, walk

pytestmark = pytest.mark.integration

LAKE = "s3://lake/"


def _emit(pipeline: Pipeline) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    transport = KafkaTransport(
        KafkaConfig(
            config={"bootstrap.servers": pipeline.settings.kafka_bootstrap, "acks": "all"},
            topic=pipeline.settings.topic_openlineage,
            flush=True,
        )
    )
    client = OpenLineageClient(transport=transport)
    raw, ref, clean, copy, train, infer = (run_id(n) for n in ("raw", "ref", "clean", "copy", "train", "infer"))
    events = [
        run_event_object("START", raw, "ingest", [], [("raw", None, None)], source="IOT", region="CN-GD"),
        run_event_object("COMPLETE", raw, "ingest", [], [("raw", 1_000, 10)], source="IOT", region="CN-GD"),
        run_event_object("COMPLETE", raw, "ingest", [], [("raw", 1_000, 10)], source="IOT", region="CN-GD"),  # resent
        run_event_object("COMPLETE", ref, "load_ref", [], [("ref", 3_000, 30)]),
        run_event_object("START", clean, "clean", ["raw"], [("clean", None, None)], source="TRAINING", region="CN-GD"),
        run_event_object("RUNNING", clean, "clean", ["raw"], [("clean", 600, 6)], source="TRAINING", region="CN-GD"),
        run_event_object("COMPLETE", clean, "clean", ["raw"], [("clean", None, None)], source="TRAINING", region="CN-GD"),
        run_event_object("COMPLETE", copy, "replicate_clean", ["clean"], [("copy", 600, 6)], source="TRAINING", region="CN-BJ"),
        run_event_object("RUNNING", train, "train", ["clean"], [("lost", 999, 9)], source="AI", region="CN-GD"),
        run_event_object("FAIL", train, "train", ["clean"], [("lost", 999, 9)], source="AI", region="CN-GD"),
        run_event_object(
            "COMPLETE", infer, "infer", ["clean", "ref"], [("predictions", 2_000, 20)], source="INFERENCE", region="CN-SH"
        ),
    ]
    for event in events:
        client.emit(event)
    transport.wait_for_completion(30)
    raw_producer = KafkaProducer(bootstrap_servers=pipeline.settings.kafka_servers)
    raw_producer.send(pipeline.settings.topic_openlineage, value=b"{this is not json", key=b"run:pipelines/bad")
    raw_producer.flush()
    raw_producer.close()


def _zl(pipeline: Pipeline, *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", "lineage", *args, "--format", "json"],
        env=pipeline.env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_the_real_openlineage_client_through_the_worker_to_the_byte(pipeline: Pipeline) -> None:
    _emit(pipeline)
    pipeline.run_worker()
    s = pipeline.settings
    client = connect(s.clickhouse_dsn)
    db = s.clickhouse_database
    try:
        accounts = {
            (str(src), str(reg)): tuple(int(x) for x in rest)
            for src, reg, *rest in client.query(
                f"SELECT source, region, unique_bytes, derived_bytes, replicated_bytes, net_new_bytes, gross_bytes "
                f"FROM {db}.lineage_accounts WHERE year = 2025"
            ).result_rows
        }
        assert accounts == {
            ("IOT", "CN-GD"): (1_000, 0, 0, 1_000, 1_000),
            ("OTHER", "unknown"): (3_000, 0, 0, 3_000, 3_000),
            ("TRAINING", "CN-GD"): (0, 600, 0, 600, 600),
            ("TRAINING", "CN-BJ"): (0, 0, 600, 0, 600),
            ("INFERENCE", "CN-SH"): (0, 2_000, 0, 2_000, 2_000),
        }
        runs = {str(j): str(st) for j, st in client.query(f"SELECT job, status FROM {db}.openlineage_runs").result_rows}
        assert runs == {
            "pipelines/ingest": "COMPLETE",
            "pipelines/load_ref": "COMPLETE",
            "pipelines/clean": "COMPLETE",
            "pipelines/replicate_clean": "COMPLETE",
            "pipelines/train": "FAIL",
            "pipelines/infer": "COMPLETE",
        }
        ((rejected,),) = client.query(f"SELECT sum(events) FROM {db}.rejections WHERE reason LIKE 'corrupt_body%'").result_rows
        assert int(rejected) == 1
        graph = ClickHouseGraph(client, db)
        up = walk(graph, LAKE + "predictions", "upstream")
        assert [(n.id.removeprefix(LAKE), n.depth, n.bytes) for n in up.nodes] == [
            ("predictions", 0, 2_000),
            ("clean", 1, 600),
            ("ref", 1, 3_000),
            ("raw", 2, 1_000),
        ]
        assert [(e.parent.removeprefix(LAKE), e.child.removeprefix(LAKE), e.bytes, e.derivation) for e in up.edges] == [
            ("clean", "predictions", 2_000, "DERIVED"),
            ("raw", "clean", 600, "DERIVED"),
            ("ref", "predictions", 2_000, "DERIVED"),
        ]
        hit = impact(graph, LAKE + "raw")
        # the failed run's output is not downstream: only counted runs draw edges with bytes
        assert sorted((n.id.removeprefix(LAKE), n.depth) for n in hit.nodes) == [
            ("clean", 1),
            ("copy", 2),
            ("predictions", 2),
            ("raw", 0),
        ]
        assert hit.total_bytes == 600 + 600 + 2_000 and not hit.partial
        # 2,000 B of inference data: by parent bytes, clean 600 : ref 3,000 -> 333 and 1,667 (largest remainder);
        # clean's share goes on to raw.
        inference = attribute(graph, 2025, "INFERENCE")
        assert inference.roots == ((LAKE + "ref", "OTHER", 1_667), (LAKE + "raw", "IOT", 333))
        every = attribute(graph, 2025)
        assert every.total_bytes == 2_000 + 600 + 600
        assert every.roots == ((LAKE + "ref", "OTHER", 1_667), (LAKE + "raw", "IOT", 333 + 600 + 600))
    finally:
        client.close()
    # The same answers through the CLI, as JSON.
    answer = _zl(pipeline, "upstream", LAKE + "predictions", "--depth", "1")
    assert answer["dataset"] == LAKE + "predictions" and answer["partial"] is True
    assert {(n["id"], n["depth"], n["bytes"]) for n in answer["nodes"]} == {
        (LAKE + "predictions", 0, 2_000),
        (LAKE + "clean", 1, 600),
        (LAKE + "ref", 1, 3_000),
    }
    assert {(e["parent"], e["child"], e["bytes"], e["derivation"]) for e in answer["edges"]} == {
        (LAKE + "clean", LAKE + "predictions", 2_000, "DERIVED"),
        (LAKE + "ref", LAKE + "predictions", 2_000, "DERIVED"),
    }
    down = _zl(pipeline, "downstream", LAKE + "clean")
    assert {(e["parent"], e["child"], e["derivation"]) for e in down["edges"]} == {
        (LAKE + "clean", LAKE + "copy", "COPY"),
        (LAKE + "clean", LAKE + "predictions", "DERIVED"),
    }
    roots = _zl(pipeline, "roots", "--year", "2025", "--source", "INFERENCE")
    assert roots["by_source"] == {"OTHER": 1_667, "IOT": 333} and roots["partial"] is False
