"""OpenLineage traffic for the fault suite, and its truth: what the lineage accounts must hold, computed from
the topic with the standard library alone (not with the worker's decoder or fold, so the check is independent).

The traffic: runs of a few jobs, each sent START, RUNNING with statistics, COMPLETE (half of them with
final statistics that replace the RUNNING ones), one run in eight FAILs, one in ten is sent again whole,
one job in four is a copy job; sources and regions by the ``zettaledger`` run facet.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from harness.openlineage_events import openlineage_messages
from zettaledger.settings import Settings
from zettaledger.sinks.client import connect

Accounts = dict[tuple[int, str, str, str], int]  # (year, source, region, derivation) -> bytes
_TERMINAL = ("COMPLETE", "FAIL", "ABORT")


def produce_openlineage(settings: Settings, runs: int, seed: int) -> int:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all", linger_ms=5)
    sent = 0
    for key, value in openlineage_messages(runs, seed):
        producer.send(settings.topic_openlineage, key=key, value=value)
        sent += 1
    producer.flush()
    producer.close()
    return sent


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def truth(settings: Settings) -> Accounts:
    """The accounts the OpenLineage topic implies: per (run, output) the statistics of the latest event that
    has them and the status of the latest terminal event, by (event time, partition, offset); counted once
    if COMPLETE, in the year of that event."""
    consumer = KafkaConsumer(
        settings.topic_openlineage, bootstrap_servers=settings.kafka_servers, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=5000,
    )  # fmt: skip
    stats: dict[tuple[str, str], tuple[tuple[int, int, int], int]] = {}
    final: dict[tuple[str, str], tuple[tuple[int, int, int], str, int, str, str, str]] = {}
    try:
        for message in consumer:
            e: dict[str, Any] = json.loads(message.value)
            version = (_ms(e["eventTime"]), message.partition, message.offset)
            facet = e["run"]["facets"]["zettaledger"]
            derivation = "ORIGINAL" if not e.get("inputs") else "COPY" if "replicate" in e["job"]["name"] else "DERIVED"
            for out in e.get("outputs") or ():
                key = (e["run"]["runId"], f"{out['namespace']}/{out['name']}")
                size = ((out.get("outputFacets") or {}).get("outputStatistics") or {}).get("size")
                if size is not None and (key not in stats or stats[key][0] < version):
                    stats[key] = (version, size)
                if e["eventType"] in _TERMINAL and (key not in final or final[key][0] < version):
                    year = dt.datetime.fromtimestamp(version[0] / 1000, dt.UTC).year
                    final[key] = (version, e["eventType"], year, facet["source"], facet["region"], derivation)
    finally:
        consumer.close()
    accounts: Accounts = {}
    for key, (_, status, year, source, region, derivation) in final.items():
        if status == "COMPLETE" and key in stats:
            cell = (year, source, region, derivation)
            accounts[cell] = accounts.get(cell, 0) + stats[key][1]
    return accounts


def in_ledger(settings: Settings, database: str | None = None) -> Accounts:
    client = connect(settings.clickhouse_dsn)
    try:
        rows = client.query(
            f"SELECT toYear(day), source, region, derivation, sum(bytes) FROM `{database or settings.clickhouse_database}`.lineage_run_outputs "
            "WHERE status = 'COMPLETE' AND suspect = 0 GROUP BY 1, 2, 3, 4"
        ).result_rows
    finally:
        client.close()
    return {(int(y), str(s), str(r), str(d)): int(b) for y, s, r, d, b in rows if int(b)}


def check(settings: Settings, database: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Figures for the summary line, and problems (empty when the ledger holds exactly the truth)."""
    expected, held = truth(settings), in_ledger(settings, database)
    problems = []
    if expected != held:
        off = sorted(k for k in expected.keys() | held.keys() if expected.get(k) != held.get(k))
        problems.append(
            f"OpenLineage accounts off in {len(off)} cells, e.g. {off[0]}: {expected.get(off[0])} != {held.get(off[0])}"
        )
    return {"ol_bytes": sum(expected.values()), "ol_cells": len(expected)}, problems
