"""What the ledger holds, set against the truth: cells, lost, duplicated, offset coverage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.faults.truth import Cell, Truth
from zettaledger.sinks.client import connect

_CELL_SQL = {
    "volume": "SELECT day, source, region, sum(events), sum(bytes) FROM {db}.ledger WHERE kind='volume' GROUP BY day, source, region",
    "tokens": "SELECT day, model, provider, region, sum(events), sum(input_tokens + output_tokens) FROM {db}.ledger "
    "WHERE kind='tokens' GROUP BY day, model, provider, region",
    "collection": "SELECT day, pipeline_id, region, sum(events), sum(usable_captures) FROM {db}.ledger "
    "WHERE kind='collection' GROUP BY day, pipeline_id, region",
    "dataset": "SELECT dataset_id, sum(events), sum(bytes) FROM {db}.ledger WHERE kind='dataset' GROUP BY dataset_id",
}
# What statisticians read: the views backed by the rollups (projections of the ledger), keyed like the truth's cells.
_VIEW_SQL = {
    "volume": "SELECT day, source, region, events, bytes FROM {db}.data_created_daily",
    "tokens": "SELECT day, model, provider, region, NULL, tokens FROM {db}.tokens_by_model_daily",
}


def _cells(rows: Any, kind: str) -> dict[Cell, list[int | None]]:
    cells: dict[Cell, list[int | None]] = {}
    for row in rows:
        *key, events, amount = row
        day_first = [k.toordinal() - 719163 if hasattr(k, "toordinal") else k for k in key]
        cells[(kind, *day_first)] = [None if events is None else int(events), int(amount)]
    return cells


@dataclass
class LedgerState:
    cells: dict[Cell, list[int]]
    segments: list[tuple[int, int, int]]  # partition, offset_from, offset_to
    duplicates: int
    rejected: int
    adjustments: int
    rollup_problems: list[str]
    views: dict[Cell, list[int | None]]  # cells as the statisticians' views show them (events None where a view has none)


def read_ledger(dsn: str, database: str, topic: str) -> LedgerState:
    client = connect(dsn)
    try:
        db = f"`{database}`"
        cells: dict[Cell, list[int]] = {}
        for kind, sql in _CELL_SQL.items():
            for cell, (events, amount) in _cells(client.query(sql.replace("{db}", db)).result_rows, kind).items():
                cells[cell] = [int(events or 0), int(amount or 0)]
        views: dict[Cell, list[int | None]] = {}
        for kind, sql in _VIEW_SQL.items():
            views.update(_cells(client.query(sql.replace("{db}", db)).result_rows, kind))
        segments = [
            (int(p), int(a), int(b))
            for p, a, b in client.query(
                f"SELECT kafka_partition, offset_from, offset_to FROM {db}.ledger WHERE kind='segment' AND topic={{t:String}}",
                parameters={"t": topic},
            ).result_rows
        ]
        ((dups, rej),) = client.query(f"SELECT sum(duplicates), sum(rejected) FROM {db}.ledger WHERE kind='segment'").result_rows
        ((adj,),) = client.query(f"SELECT sum(events) FROM {db}.ledger WHERE adjustment = 1").result_rows
        from zettaledger.sinks import rollups

        return LedgerState(cells, segments, int(dups), int(rej), int(adj), rollups.check(client, database), views)
    finally:
        client.close()


@dataclass
class Comparison:
    expected_cells: int
    exact_cells: int
    lost: int
    duplicated: int
    gaps: int
    overlaps: int
    rollup_problems: int = 0  # days where a rollup's projection disagrees with the ledger's rows
    view_diffs: int = 0  # cells where a statisticians' view differs from the truth

    @property
    def exact(self) -> bool:
        return (
            self.expected_cells == self.exact_cells
            and self.lost == 0
            and self.duplicated == 0
            and self.gaps == 0
            and self.overlaps == 0
            and self.rollup_problems == 0
            and self.view_diffs == 0
        )


def coverage(segments: list[tuple[int, int, int]], end_offsets: dict[int, int]) -> tuple[int, int]:
    """Offsets the ledger never covered (gaps) and covered more than once (overlaps)."""
    gaps = overlaps = 0
    for partition, end in end_offsets.items():
        spans = sorted((a, b) for p, a, b in segments if p == partition)
        nxt = 0
        for a, b in spans:
            if a > nxt:
                gaps += a - nxt
            elif a < nxt:
                overlaps += min(b + 1, nxt) - a
            nxt = max(nxt, b + 1)
        gaps += max(0, end - nxt)
    return gaps, overlaps


def compare(truth: Truth, ledger: LedgerState) -> Comparison:
    lost = duplicated = exact = 0
    for cell, (events, amount) in truth.cells.items():
        got_events, got_amount = ledger.cells.get(cell, [0, 0])
        if (got_events, got_amount) == (events, amount):
            exact += 1
        lost += max(0, events - got_events)
        duplicated += max(0, got_events - events)
    for cell, (got_events, _) in ledger.cells.items():
        if cell not in truth.cells:
            duplicated += got_events
    gaps, overlaps = coverage(ledger.segments, truth.end_offsets)
    return Comparison(
        len(truth.cells), exact, lost, duplicated, gaps, overlaps, len(ledger.rollup_problems), view_diffs(truth, ledger)
    )


def view_diffs(truth: Truth, ledger: LedgerState) -> int:
    """Cells of the views that differ from the truth (a view without an events column is compared on its amount)."""
    expected = {cell: value for cell, value in truth.cells.items() if cell[0] in _VIEW_SQL}
    diffs = 0
    for cell in set(expected) | set(ledger.views):
        events, amount = expected.get(cell, [0, 0])
        shown_events, shown_amount = ledger.views.get(cell, [0, 0])
        if shown_amount != amount or (shown_events is not None and shown_events != events):
            diffs += 1
    return diffs


def summary_line(name: str, comparison: Comparison, extra: dict[str, Any]) -> str:
    c = comparison
    fields = {
        "cells": f"{c.exact_cells}/{c.expected_cells}",
        "lost": c.lost,
        "duplicated": c.duplicated,
        "gaps": c.gaps,
        "overlaps": c.overlaps,
        "rollup_diffs": c.rollup_problems,
        "view_diffs": c.view_diffs,
        **extra,
    }
    return f"FAULT {name:<14} " + " ".join(f"{k}={v}" for k, v in fields.items())
