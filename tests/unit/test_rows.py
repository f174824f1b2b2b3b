"""Ledger rows built positionally for a flush's cells are the rows ``row`` builds by keyword."""

from __future__ import annotations

import pytest

from zettaledger.sinks.ledger import Kind
from zettaledger.sinks.rows import cell_rows, row, row_maker


def test_each_cell_becomes_the_row_its_keywords_name() -> None:
    rows = cell_rows(
        volume={(20_000, "IOT", "CN-GD", 1, "p1", "ORIGINAL"): [3, 2**70, 9]},
        tokens={(20_001, "m", "prov", "CN-BJ", 0): [1, 10, 20]},
        collection={(20_002, "pipe", "CN-SH", 0): [5, 4, 3, 2, 1]},
        lineage={("parent", "child"): [2, 99, 20_003]},
        rejections={("DataCreated", "invalid_field: bytes"): 4},
        outputs={("child", 20_004, "AI", "CN-ZJ", "DERIVED"): [6, 7, 8]},
    )
    assert rows == [
        row(Kind.VOLUME, day=20_000, source="IOT", region="CN-GD", adjustment=1, producer_id="p1", derivation="ORIGINAL",
            events=3, bytes=2**70, records=9),
        row(Kind.TOKENS, day=20_001, model="m", provider="prov", region="CN-BJ", adjustment=0, events=1, input_tokens=10,
            output_tokens=20),
        row(Kind.COLLECTION, day=20_002, pipeline_id="pipe", region="CN-SH", adjustment=0, events=5, attempted_captures=4,
            usable_captures=3, attempted_bytes=2, usable_bytes=1),
        row(Kind.LINEAGE, parent_id="parent", dataset_id="child", events=2, bytes=99, day=20_003),
        row(Kind.REJECTED, source="DataCreated", reason="invalid_field: bytes", events=4),
        row(Kind.OUTPUT, dataset_id="child", day=20_004, source="AI", region="CN-ZJ", derivation="DERIVED", events=6, bytes=7,
            records=8),
    ]  # fmt: skip


@pytest.mark.parametrize("names", [("no_such_column",), ("day", "day"), ("kind",)])
def test_a_maker_refuses_names_that_are_not_columns_once(names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="unknown, repeated or reserved"):
        row_maker(Kind.VOLUME, *names)
