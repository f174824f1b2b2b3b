"""The graph read from the ledger in one query per question gives the answers of the whole graph in memory.

Random ledgers (OpenLineage runs resent, failed, suspect, spread over events; native edges and
bytes; registrations) go into chDB. The graph in memory is built from the statistician's views
(``lineage_graph_edges``, ``lineage_datasets``, ``lineage_run_outputs``): a second spelling of
the rules, written long before the recursive queries. Every walk and attribution must agree,
bounds and cycles included: the query fetches only what the rules reach, so this is its contract.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.lineage_db import insert, lineage_db
from tests.unit.test_lineage_queries import MemoryGraph
from zettaledger.sinks.client import Client
from zettaledger.sinks.lineage_graph import ClickHouseGraph
from zettaledger.sinks.lineage_queries import Edge, attribute, walk

DB = "zl_graph"
NAMES = [f"s3://lake/d{i}" for i in range(6)]
DAY_2024, DAY_2025 = (dt.date(2024, 12, 30) - dt.date(1970, 1, 1)).days, (dt.date(2025, 6, 1) - dt.date(1970, 1, 1)).days


@pytest.fixture
def chdb(open_chdb: Callable[[Path], Client], tmp_path: Path) -> Client:
    """One database for all the examples of a test: each example empties the ledger first."""
    client = open_chdb(tmp_path / "chdb")
    lineage_db(client, DB)
    return client


@st.composite
def ledgers(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Ledger rows as the worker writes them; every event has its own version (time, partition, offset)."""
    rows: list[dict[str, Any]] = []
    offsets = itertools.count()

    def version() -> dict[str, Any]:
        offset = next(offsets)
        return {
            "event_time_ms": 1_700_000_000_000 + draw(st.integers(0, 5)) * 1000 + offset,
            "kafka_partition": 0,
            "offset_to": offset,
        }

    for run in range(draw(st.integers(0, 8))):
        output = draw(st.sampled_from(NAMES))
        inputs = draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True))
        derivation = "ORIGINAL" if not inputs else draw(st.sampled_from(["DERIVED", "COPY"]))
        source = draw(st.sampled_from(["IOT", "AI", "INFERENCE"]))
        # As the fold writes it: a run with run_input rows never says no_inputs; one without may (or, written
        # before the column, may not).
        no_inputs = 0 if any(p != output for p in inputs) else draw(st.sampled_from([0, 1]))
        for _ in range(draw(st.integers(1, 3))):  # START / RUNNING / COMPLETE / FAIL ..., in any order
            event = {
                "kind": "run",
                "dataset_id": output,
                "run_id": f"run{run}",
                "status": draw(st.sampled_from(["START", "RUNNING", "COMPLETE", "COMPLETE", "FAIL"])),
                "has_stats": draw(st.sampled_from([0, 1])),
                "bytes": draw(st.integers(0, 10**6)),
                "suspect": draw(st.sampled_from([0, 0, 0, 1])),
                "derivation": derivation,
                "source": source,
                "day": draw(st.sampled_from([DAY_2024, DAY_2025])),
                "no_inputs": no_inputs,
                **version(),
            }
            rows += [event] * draw(st.integers(1, 2))  # a resend writes the same row again
        rows += [
            {"kind": "run_input", "dataset_id": output, "parent_id": p, "run_id": f"run{run}"} for p in inputs if p != output
        ]
    for parent, child in draw(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), max_size=3)):
        rows.append(
            {"kind": "lineage", "parent_id": parent, "dataset_id": child, "bytes": draw(st.integers(0, 1000)), "day": DAY_2025}
        )
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=3)):
        derivation = draw(st.sampled_from(["ORIGINAL", "DERIVED", "COPY"]))
        source = draw(st.sampled_from(["IOT", "OTHER"]))
        rows.append(
            {
                "kind": "output",
                "dataset_id": name,
                "day": DAY_2025,
                "source": source,
                "derivation": derivation,
                "bytes": draw(st.integers(0, 1000)),
            }
        )
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=2)):
        rows.append({"kind": "dataset", "dataset_id": name, "quality_grade": draw(st.sampled_from(["HIGH", "LOW"])), **version()})
    return rows


def from_views(client: Client, year: int, source: str | None = None) -> MemoryGraph:
    """The whole graph, read from the views a statistician reads."""

    def query(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in client.query(sql.replace("{db}", DB)).result_rows]

    edges = [
        Edge(str(p), str(c), int(b), str(d))
        for p, c, b, d in query("SELECT parent, child, bytes, derivation FROM {db}.lineage_graph_edges")
    ]
    node_bytes = {str(i): int(b) for i, b in query("SELECT dataset_id, bytes FROM {db}.lineage_datasets")}
    counted = """
        SELECT dataset_id, source, if(suspect = 0, bytes, toUInt256(0)) AS b, derivation, day FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE'
        UNION ALL SELECT dataset_id, toString(source), bytes, toString(derivation), day FROM {db}.ledger WHERE kind = 'output'"""
    seeds = {
        str(i): int(b)
        for i, b in query(
            f"SELECT dataset_id, sum(b) FROM ({counted}) WHERE derivation IN ('DERIVED', 'COPY') AND toYear(day) = {year} "
            + (f"AND source = '{source}' " if source else "")
            + "GROUP BY dataset_id"
        )
    }
    sources = {
        str(i): str(s)
        for i, s in query(
            f"SELECT dataset_id, argMax(source, tuple(sb, source)) FROM (SELECT dataset_id, source, sum(b) AS sb FROM ({counted}) GROUP BY dataset_id, source) GROUP BY dataset_id"
        )
    }
    for i, grade in query(
        "SELECT dataset_id, argMax(toString(quality_grade), tuple(event_time_ms, kafka_partition, offset_to)) FROM {db}.ledger WHERE kind = 'dataset' GROUP BY dataset_id"
    ):
        sources.setdefault(str(i), "HIGH_QUALITY" if grade == "HIGH" else "REGISTERED")
    return MemoryGraph(edges, node_bytes, seeds, sources)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ledgers(), st.integers(0, 4), st.integers(1, 7), st.sampled_from(NAMES))
def test_one_query_a_question_answers_as_the_whole_graph(
    chdb: Client, rows: list[dict[str, Any]], depth: int, budget: int, start: str
) -> None:
    chdb.command(f"TRUNCATE TABLE {DB}.ledger")
    insert(chdb, DB, rows)
    graph, whole = ClickHouseGraph(chdb, DB), from_views(chdb, 2025)
    for direction in ("upstream", "downstream"):
        assert walk(graph, start, direction, depth, budget) == walk(whole, start, direction, depth, budget)
    assert attribute(graph, 2025, None, depth, budget) == attribute(whole, 2025, None, depth, budget)
    inference = from_views(chdb, 2025, "INFERENCE")
    assert attribute(graph, 2025, "INFERENCE", depth + 2, budget + 4) == attribute(
        inference, 2025, "INFERENCE", depth + 2, budget + 4
    )


def test_an_unknown_dataset_walks_to_itself_alone(chdb: Client) -> None:
    up = walk(ClickHouseGraph(chdb, DB), "s3://nowhere", "upstream")
    assert [(n.id, n.depth, n.bytes) for n in up.nodes] == [("s3://nowhere", 0, 0)] and not up.edges and not up.partial
    assert attribute(ClickHouseGraph(chdb, DB), 2025).total_bytes == 0


def test_every_dataset_of_an_attribution_is_numbered_by_its_id(chdb: Client) -> None:
    """ClickHouse numbers the answer's datasets (no hashes cross): ids of one length, one prefix, and an edge end
    that is a prefix of another id still land on their own numbers."""
    chdb.command(f"TRUNCATE TABLE {DB}.ledger")
    a, b, c, d = "s3://lake/d", "s3://lake/d0", "s3://lake/d1", "s3://lake/d10"
    rows = [
        {"kind": "lineage", "parent_id": p, "dataset_id": ch, "bytes": 1, "day": DAY_2025} for p, ch in [(a, c), (b, c), (c, d)]
    ]
    rows += [{"kind": "output", "dataset_id": d, "day": DAY_2025, "source": "AI", "derivation": "DERIVED", "bytes": 7}]
    rows += [
        {"kind": "output", "dataset_id": n, "day": DAY_2024, "source": s, "derivation": "ORIGINAL", "bytes": w}
        for n, s, w in [(a, "IOT", 3), (b, "AI", 1)]
    ]
    insert(chdb, DB, rows)
    roots = attribute(ClickHouseGraph(chdb, DB), 2025)
    assert roots.roots == ((a, "IOT", 5), (b, "AI", 2)) and roots.total_bytes == 7  # 7 by parent bytes 3:1


def test_runs_written_before_no_inputs_existed_keep_their_edges(chdb: Client) -> None:
    """Migration 11 adds ``no_inputs`` to a ledger that holds runs: their rows read 0 (claims nothing), so their
    inputs are still read; a run written after it that says ``no_inputs`` is a root without a read of run_input."""
    from zettaledger.sinks.writer import migrate

    chdb.command(f"ALTER TABLE {DB}.ledger DROP COLUMN no_inputs")
    chdb.command(f"DELETE FROM {DB}.schema_migrations WHERE version >= 11")
    run = "INSERT INTO {db}.ledger (kind, dataset_id, parent_id, run_id, status, has_stats, bytes, derivation, source, day, offset_to) VALUES"
    chdb.command(
        run.format(db=DB)
        + f"""('run', 'child', '', 'r1', 'COMPLETE', 1, 10, 'DERIVED', 'AI', {DAY_2025}, 1),
              ('run_input', 'child', 'parent', 'r1', '', 0, 0, '', '', 0, 1),
              ('run', 'parent', '', 'r0', 'COMPLETE', 1, 5, 'ORIGINAL', 'IOT', {DAY_2024}, 0)"""
    )
    assert migrate(chdb, DB) == [11]
    assert attribute(ClickHouseGraph(chdb, DB), 2025).roots == (("parent", "IOT", 10),)
    later = {"kind": "run", "dataset_id": "parent", "run_id": "r0", "status": "COMPLETE", "source": "IOT", "offset_to": 2}
    insert(chdb, DB, [{**later, "no_inputs": 1}])
    assert attribute(ClickHouseGraph(chdb, DB), 2025).roots == (("parent", "IOT", 10),)
