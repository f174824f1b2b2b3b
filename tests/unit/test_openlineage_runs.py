"""Run accounting: folding a flush's events, then resolving every row in SQL, counts each run once."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.lineage_db import insert, lineage_db
from harness.openlineage_events import run_event, run_id
from zettaledger.schemas.openlineage import OpenLineageDecoder
from zettaledger.sinks.client import Client
from zettaledger.streams.openlineage_runs import Located, fold

DATA = Path(__file__).resolve().parents[1] / "data" / "openlineage"
NOW = 1_800_000_000_000
DECODER = OpenLineageDecoder()
_counter = itertools.count()


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    from zettaledger.sinks.client import connect

    client = connect(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    yield client
    client.close()


def fresh(client: Client) -> str:
    db = f"zl_runs_{next(_counter)}"
    lineage_db(client, db)
    return db


def located(values: list[bytes], partition: int = 0) -> list[Located]:
    return [Located(DECODER.decode(v, NOW), "zl.openlineage", partition, i) for i, v in enumerate(values)]


def accounts(client: Client, db: str) -> dict[tuple[str, str], int]:
    rows = client.query(
        f"SELECT run_id, dataset_id, bytes FROM {db}.lineage_run_outputs WHERE status = 'COMPLETE' AND suspect = 0"
    ).result_rows
    return {(r, d): int(b) for r, d, b in rows}


def test_spark_statistics_sent_on_running_count_when_the_run_completes(chdb: Client) -> None:
    db = fresh(chdb)
    events = located([(DATA / f"spark/{n}.json").read_bytes() for n in (11, 12, 13, 14)])
    insert(chdb, db, fold(events[:3]))  # a flush ends after the RUNNING with statistics
    assert accounts(chdb, db) == {}  # not complete yet: nothing counts
    insert(chdb, db, fold(events[3:]))  # COMPLETE, without statistics, in a later flush (after a restart, say)
    ((run, dataset), b), *_ = accounts(chdb, db).items()
    assert b == 8 and dataset.endswith("default.t2")
    insert(chdb, db, fold(events))  # the whole run resent
    assert accounts(chdb, db) == {(run, dataset): 8}


def test_fail_and_abort_count_nothing_and_are_visible(chdb: Client) -> None:
    db = fresh(chdb)
    insert(
        chdb,
        db,
        fold(
            located(
                [
                    run_event("RUNNING", run_id("f"), "j", ["a"], [("b", 100, 1)]),
                    run_event("FAIL", run_id("f"), "j", ["a"], [("b", 100, 1)]),
                    run_event("ABORT", run_id("g"), "k"),
                ]
            )
        ),
    )
    assert accounts(chdb, db) == {}
    runs = {str(j): str(s) for j, s in chdb.query(f"SELECT job, status FROM {db}.openlineage_runs").result_rows}
    assert runs == {"pipelines/j": "FAIL", "pipelines/k": "ABORT"}


# A small world of runs; each event is (run, state, size or None). Versions increase with the index.
_EVENT = st.tuples(
    st.sampled_from(["r1", "r2", "r3"]),
    st.sampled_from(["START", "RUNNING", "COMPLETE", "FAIL"]),
    st.one_of(st.none(), st.integers(0, 2**70)),
)


def oracle(events: list[tuple[str, str, int | None]]) -> dict[str, int]:
    """The rule, stated plainly: latest statistics and latest terminal state per run; only COMPLETE counts."""
    stats: dict[str, int] = {}
    final: dict[str, str] = {}
    for run, state, size in events:
        if size is not None:
            stats[run] = size
        if state in ("COMPLETE", "FAIL"):
            final[run] = state
    return {r: stats.get(r, 0) for r, s in final.items() if s == "COMPLETE"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(_EVENT, min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=4),
    resend=st.lists(st.integers(0, 11), max_size=4),
)
def test_folding_in_any_flushes_with_resends_equals_the_rule(
    chdb: Client, events: list[tuple[str, str, int | None]], cuts: list[int], resend: list[int]
) -> None:
    db = fresh(chdb)
    t0 = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    values = [
        run_event(
            state, run_id(run), run, ["in"], [("out", size, 0 if size is not None else None)], when=t0 + dt.timedelta(seconds=i)
        )
        for i, (run, state, size) in enumerate(events)
    ]
    # Resends: an earlier message sent again later (same content, same event time, a later offset).
    values += [values[i] for i in resend if i < len(events)]
    stream = located(values)
    bounds = sorted({0, len(stream), *(c for c in cuts if c < len(stream))})
    for a, b in itertools.pairwise(bounds):
        insert(chdb, db, fold(stream[a:b]))
    got = {run: b for (run, _), b in accounts(chdb, db).items()}
    want = {run_id(r): b for r, b in oracle(events).items()}
    # a run completed without any statistics has a row with 0 bytes: compare the counted bytes
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in want.items() if v}
    assert set(got) == set(want)


def test_run_rows_say_no_inputs_only_when_the_flush_wrote_no_edge_of_their_output() -> None:
    rows = fold(
        located(
            [
                run_event("START", run_id("n"), "j", ["a"], [("b", 10, 1), ("a", 5, 1)]),  # a -> a is no edge
                run_event("COMPLETE", run_id("n"), "j", [], [("b", 10, 1), ("a", 5, 1)]),  # inputs on START only
                run_event("COMPLETE", run_id("o"), "k", [], [("c", 7, 1)]),
            ]
        )
    )
    said = {(r["run_id"], r["dataset_id"], r["no_inputs"]) for r in rows if r["kind"] == "run"}
    lake = "s3://lake/"
    assert said == {(run_id("n"), lake + "b", 0), (run_id("n"), lake + "a", 1), (run_id("o"), lake + "c", 1)}
    edges = {(r["parent_id"], r["dataset_id"]) for r in rows if r["kind"] == "run_input"}
    assert edges == {(lake + "a", lake + "b")}
