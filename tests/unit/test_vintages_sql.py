"""Vintages on the real engine (chDB in process): publish, late rows, publish again, the triangle, as-of."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.ledger_rows import DB, insert, ready, segment, volume
from zettaledger.report import render
from zettaledger.sinks.client import Client
from zettaledger.sinks.dataflows import FigureKey, FigureValue, Period
from zettaledger.sinks.queries import NationalAccounts
from zettaledger.sinks.vintages import figures_at, list_vintages, next_vintage_id, write_vintage
from zettaledger.statistics.vintages import (
    accounts_at,
    changed_figures,
    close,
    obs_status,
    plan_publication,
    publish,
    render_triangle,
    revisions,
)

MAR1 = dt.date(2025, 3, 1)
T1 = dt.datetime(2025, 4, 1, 9, 0, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 5, 1, 9, 0, tzinfo=dt.UTC)
LATE_BYTES = 123_456_789_012_345_678_901  # > 2^64


def report(accounts: NationalAccounts) -> str:
    return render(accounts, [MAR1], (2025, 3), (2024, 2025))


@pytest.fixture
def client(open_chdb: Callable[[Path], Client], tmp_path: Path) -> Client:
    c = ready(open_chdb(tmp_path / "chdb"))
    insert(
        c,
        volume(MAR1, "AI", "CN-BJ", 10**24, "p1"),
        volume(MAR1, "AI", "CN-BJ", 5, "p2"),
        volume(MAR1, "IOT", "CN-SH", 7 * 10**20, "p3"),
        volume(dt.date(2024, 6, 1), "IOT", "CN-SH", 99, "p3"),  # another period: never in 2025's vintage
        {
            "kind": "tokens",
            "day": MAR1,
            "model": "m",
            "provider": "p",
            "region": "CN-BJ",
            "input_tokens": 700,
            "output_tokens": 300,
            "events": 1,
        },
        {
            "kind": "collection",
            "day": MAR1,
            "pipeline_id": "rbt-1",
            "region": "CN-SH",
            "attempted_captures": 100,
            "usable_captures": 95,
            "attempted_bytes": 10,
            "usable_bytes": 9,
            "events": 1,
        },
        {
            "kind": "dataset",
            "day": MAR1,
            "event_time_ms": 1,
            "dataset_id": "ds-1",
            "region": "CN-GD",
            "quality_grade": "HIGH",
            "bytes": 5 * 10**15,
            "events": 1,
        },
        segment(9, 7),
    )
    return c


def test_publish_late_rows_publish_again_the_triangle_shows_the_late_bytes_and_as_of_reproduces_the_first(client: Client) -> None:
    first = publish(client, DB, "2025", now=T1, render=report)
    assert first.row.vintage_id == 1 and first.row.obs_status == "P"
    assert (
        first.report is not None and "exact total 2025: 1,000,700,000,000,000,000,000,005 B" in first.report
    )  # 1e24 + 7e20 + 5, exact
    key = FigureKey("DATA_CREATED", "2025-03-01", ("CN-BJ", "AI"), "BYTES")
    assert first.changes[key] == FigureValue(10**24 + 5, 0)
    assert first.changes[FigureKey("DATA_CREATED", "2025-03-01", ("CN-BJ", "AI"), "BYTES", "p1")] == FigureValue(10**24)
    assert not any(k.time_period.startswith("2024") for k in first.changes)

    # Late events for March and resends dropped by the worker, then publish again.
    insert(client, volume(MAR1, "AI", "CN-BJ", LATE_BYTES, "p1", late=1), segment(19, 1, duplicates=3))
    second = publish(client, DB, "2025", now=T2, render=report)
    assert second.row.vintage_id == 2
    # Only what changed is stored: the cell's three indicators, p1's contribution, and the ingest counts.
    assert {k for k in second.changes if k.dataflow != "CONTEXT"} == {
        FigureKey("DATA_CREATED", "2025-03-01", ("CN-BJ", "AI"), i) for i in ("BYTES", "RECORDS", "EVENTS")
    } | {FigureKey("DATA_CREATED", "2025-03-01", ("CN-BJ", "AI"), "BYTES", "p1")}
    assert second.watermarks[0].committed_through == 19

    triangle = revisions(client, DB, "2025")
    (bytes_revision,) = [r for r in triangle.revisions() if r.indicator == "BYTES"]
    assert (
        bytes_revision.vintage_id,
        bytes_revision.change,
        bytes_revision.late,
        bytes_revision.on_time,
        bytes_revision.correction,
    ) == (2, LATE_BYTES, LATE_BYTES, 0, 0)
    assert bytes_revision.value == 10**24 + 5 + LATE_BYTES
    assert triangle.resends_dropped == {2: 3}
    assert f"+{LATE_BYTES}" in render_triangle(triangle)

    # As of the first vintage: the same figures and the same report, byte for byte.
    at_first = {k: v for k, (v, _) in figures_at(client, DB, 1).items()}
    assert at_first == {k: v for k, v in first.changes.items()}
    assert report(accounts_at(client, DB, 1)) == first.report
    assert report(accounts_at(client, DB, 2)) == second.report
    stored = {v.vintage_id: v.report_sha256 for v in list_vintages(client, DB)}
    assert stored[1] == first.row.report_sha256 and stored[1] != stored[2]


def test_close_makes_the_period_normal_from_that_vintage_on(client: Client) -> None:
    publish(client, DB, "2025", now=T1)
    closing = close(client, DB, "2025", now=T2)
    assert closing.row.obs_status == "A" and closing.row.figures_changed == 0  # nothing new: nothing stored again
    vintages = list_vintages(client, DB)
    assert obs_status("2025-03-01", vintages, at=1) == "P"
    assert obs_status("2025-03-01", vintages, at=2) == "A"
    insert(client, volume(MAR1, "AI", "CN-BJ", 1, "p9", late=1), segment(20, 1))
    assert publish(client, DB, "2025-03", now=T2).row.obs_status == "A"  # a revision of a closed period stays A


def test_a_publication_interrupted_before_its_row_is_invisible_and_its_id_never_reused(client: Client) -> None:
    plan = plan_publication(client, DB, "2025", now=T1)
    orphan = plan.row
    write_vintage(client, DB, orphan, plan.changes, plan.watermarks)
    client.command(f"TRUNCATE TABLE {DB}.vintages")  # as if the process died before the last insert
    assert figures_at(client, DB, orphan.vintage_id) == {}
    assert next_vintage_id(client, DB) == orphan.vintage_id + 1


def test_a_corrected_ledger_shows_as_a_correction(client: Client) -> None:
    publish(client, DB, "2025", now=T1)
    client.command(f"ALTER TABLE {DB}.ledger DELETE WHERE kind = 'volume' AND producer_id = 'p2' SETTINGS mutations_sync = 1")
    publish(client, DB, "2025", now=T2)
    (r,) = [r for r in revisions(client, DB, "2025").revisions() if r.indicator == "BYTES"]
    assert (r.change, r.late, r.on_time, r.correction) == (-5, 0, 0, -5)


def test_a_ledger_without_producer_id_reads_one_unknown_reporter(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    c = ready(open_chdb(tmp_path / "old"), reporters=False)
    insert(c, volume(MAR1, "AI", "CN-BJ", 3), segment(1, 1))
    changes = publish(c, DB, "2025-03-01", now=T1).changes
    assert changes[FigureKey("DATA_CREATED", "2025-03-01", ("CN-BJ", "AI"), "BYTES", "?")] == FigureValue(3)


def test_an_empty_producer_id_reads_as_one_unknown_reporter(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    """What the worker writes until the accountant fills producer_id: '' is unknown, never a reporter named ''."""
    c = ready(open_chdb(tmp_path / "blank"))
    insert(c, volume(MAR1, "AI", "CN-BJ", 3, producer=""), volume(MAR1, "AI", "CN-BJ", 4, producer=""), segment(1, 2))
    changes = publish(c, DB, "2025-03-01", now=T1).changes
    reporters = {k.reporter: v for k, v in changes.items() if k.dataflow == "DATA_CREATED" and k.reporter}
    assert reporters == {"?": FigureValue(7)}


def test_changed_figures_stores_differences_and_zeroes_what_is_gone() -> None:
    a, b, c = (FigureKey("DATA_CREATED", "2025-01-01", (r, "AI"), "BYTES") for r in ("X", "Y", "Z"))
    previous = {a: FigureValue(1), b: FigureValue(2)}
    assert changed_figures(previous, {a: FigureValue(1), c: FigureValue(3)}) == {b: FigureValue(0), c: FigureValue(3)}


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2025", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2025-12", dt.date(2025, 12, 1), dt.date(2025, 12, 31)),
        ("2025-03-14", dt.date(2025, 3, 14), dt.date(2025, 3, 14)),
        ("2025-03-01..2025-03-15", dt.date(2025, 3, 1), dt.date(2025, 3, 15)),
    ],
)
def test_periods(text: str, first: dt.date, last: dt.date) -> None:
    p = Period.parse(text)
    assert (p.first, p.last, p.label) == (first, last, text)


@pytest.mark.parametrize("text", ["25", "2025-13", "2025-03-15..2025-03-01", "last year"])
def test_bad_periods_say_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="period"):
        Period.parse(text)
