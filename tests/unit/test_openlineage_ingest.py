"""The OpenLineage topic through the accountant and the ledger: routed by topic, one flush for both topics,
bad events dead-lettered with the Avro reason headers, and the graph read back from the ledger's projections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.openlineage_events import run_event, run_id
from tests.unit.test_flush import TOPIC, created
from zettaledger.schemas.codec import EventCodec
from zettaledger.schemas.openlineage import OpenLineageDecoder
from zettaledger.sinks.client import Client
from zettaledger.sinks.lineage_graph import ClickHouseGraph
from zettaledger.sinks.lineage_queries import attribute, walk
from zettaledger.sinks.writer import LedgerWriter
from zettaledger.streams.accountant import Accountant, Message, OpenLineageRoute
from zettaledger.streams.dedup import DedupWindow

OL = "zl.openlineage"


def _accountant(marks: dict[tuple[str, int], int] | None = None) -> Accountant:
    return Accountant(EventCodec(), DedupWindow(86_400, 1000), marks, openlineage=OpenLineageRoute(OL, OpenLineageDecoder()))


def _dag() -> list[bytes]:
    """raw (ORIGINAL) -> clean (DERIVED, sent RUNNING with stats then COMPLETE, and resent) -> copy (COPY);
    a FAILED run that would have written 'lost'."""
    raw, clean, copy, failed = run_id("raw"), run_id("clean"), run_id("copy"), run_id("failed")
    return [
        run_event("START", raw, "ingest", [], [("raw", None, None)], source="IOT", region="CN-GD"),
        run_event("COMPLETE", raw, "ingest", [], [("raw", 1_000, 10)], source="IOT", region="CN-GD"),
        run_event("RUNNING", clean, "clean", ["raw"], [("clean", 600, 6)], source="TRAINING", region="CN-GD"),
        run_event("COMPLETE", clean, "clean", ["raw"], [("clean", None, None)], source="TRAINING", region="CN-GD"),
        run_event("COMPLETE", clean, "clean", ["raw"], [("clean", None, None)], source="TRAINING", region="CN-GD"),
        run_event("COMPLETE", copy, "replicate_clean", ["clean"], [("copy", 600, 6)], source="TRAINING", region="CN-BJ"),
        run_event("FAIL", failed, "train", ["clean"], [("lost", 999, 9)], source="AI", region="CN-GD"),
    ]


def test_openlineage_messages_are_routed_by_topic_into_one_flush() -> None:
    messages = [Message(TOPIC, 0, 0, created(5))]
    messages += [Message(OL, 1, i, v) for i, v in enumerate(_dag())]
    messages += [Message(OL, 1, 7, b"{not json"), Message(OL, 1, 8, b'{"eventType": "COMPLETE"}')]
    plan = _accountant().account(messages)
    assert plan.watermarks == {(TOPIC, 0): 0, (OL, 1): 8}
    kinds = [r[0] for r in plan.flush.rows]
    assert kinds.count("segment") == 2 and "run" in kinds and "run_input" in kinds and "volume" in kinds
    codes = {(d.error, d.event_type) for d in plan.dead_letters}
    assert codes == {("corrupt_body", "OpenLineage"), ("invalid_openlineage", "JobEvent")}
    headers = dict(plan.dead_letters[0].headers())
    assert headers["zl.source.topic"] == OL.encode() and headers["zl.error.code"] == b"corrupt_body"
    # planning again gives the same flush (the fold is pure)
    assert _accountant().account(messages).flush == plan.flush
    # offsets the ledger holds are replays, per topic
    again = _accountant({(OL, 1): 8, (TOPIC, 0): 0}).account(messages)
    assert again.empty and again.stats.replayed_messages == len(messages)


def test_the_graph_and_accounts_from_the_ledger_are_exact_across_flushes(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    client = open_chdb(tmp_path / "chdb")
    writer = LedgerWriter(client, "zl_ol")
    writer.setup()
    accountant = _accountant()
    dag = _dag()
    # three flushes; the last resends the whole DAG at new offsets (a producer retry)
    for part, first in ((dag[:3], 0), (dag[3:], 3), (dag, 100)):
        plan = accountant.account([Message(OL, 0, first + i, v) for i, v in enumerate(part)])
        writer.write(plan.flush)
        accountant.committed(plan)
    accounts = client.query(
        "SELECT source, region, unique_bytes, derived_bytes, replicated_bytes, net_new_bytes, gross_bytes "
        "FROM zl_ol.lineage_accounts ORDER BY source, region"
    ).result_rows
    assert [tuple(int(x) if not isinstance(x, str) else x for x in r) for r in accounts] == [
        ("IOT", "CN-GD", 1000, 0, 0, 1000, 1000),
        ("TRAINING", "CN-BJ", 0, 0, 600, 0, 600),
        ("TRAINING", "CN-GD", 0, 600, 0, 600, 600),
    ]
    runs = {str(j): str(s) for j, s in client.query("SELECT job, status FROM zl_ol.openlineage_runs").result_rows}
    assert runs == {
        "pipelines/ingest": "COMPLETE",
        "pipelines/clean": "COMPLETE",
        "pipelines/replicate_clean": "COMPLETE",
        "pipelines/train": "FAIL",
    }
    graph = ClickHouseGraph(client, "zl_ol")
    up = walk(graph, "s3://lake/copy", "upstream")
    assert [(n.id, n.depth, n.bytes) for n in up.nodes] == [
        ("s3://lake/copy", 0, 600),
        ("s3://lake/clean", 1, 600),
        ("s3://lake/raw", 2, 1000),
    ]
    assert [(e.parent, e.child, e.bytes, e.derivation) for e in up.edges] == [
        ("s3://lake/clean", "s3://lake/copy", 600, "COPY"),
        ("s3://lake/raw", "s3://lake/clean", 600, "DERIVED"),
    ]
    assert not up.partial
    down = walk(graph, "s3://lake/raw", "downstream", depth=1)
    assert [n.id for n in down.nodes] == ["s3://lake/raw", "s3://lake/clean"] and down.partial
    roots = attribute(graph, 2025)
    assert roots.total_bytes == 1200 and roots.roots == (("s3://lake/raw", "IOT", 1200),)
