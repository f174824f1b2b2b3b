"""Exports read back by independent readers (pysdmx for SDMX-CSV 2.0, pyarrow for Parquet, the csv
module for CSV), every value compared exactly, a 1e24-byte cell and a 2^64+1-byte cell among them."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.unit.ledger_rows import DB, insert, ready, segment, volume
from zettaledger.sinks.client import Client
from zettaledger.statistics.disclosure import Rules
from zettaledger.statistics.export import Observation, observations, to_csv, to_parquet, to_sdmx_csv
from zettaledger.statistics.vintages import close, publish

D = dt.date(2025, 3, 1)
T1 = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
T3 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def client(open_chdb: Callable[[Path], Client], tmp_path: Path) -> Client:
    c = ready(open_chdb(tmp_path / "chdb"))
    # CN-BJ x AI: 1e24 from one dominant producer among three (O); CN-SH x IOT: two reporters (A);
    # everything else three equal reporters.
    rows = [volume(D, "AI", "CN-BJ", 10**24, "big"), volume(D, "AI", "CN-BJ", 10, "s1"), volume(D, "AI", "CN-BJ", 10, "s2")]
    rows += [volume(D, "IOT", "CN-SH", 2**64 + 1, "p"), volume(D, "IOT", "CN-SH", 7, "q")]
    for region, source, b in (("CN-BJ", "IOT", 300), ("CN-SH", "AI", 600), ("CN-GD", "AI", 900), ("CN-GD", "IOT", 1500)):
        rows += [volume(D, source, region, b // 3, who) for who in ("x", "y", "z")]
    rows += [
        {
            "kind": "tokens",
            "day": D,
            "model": "m",
            "provider": "p",
            "region": "CN-BJ",
            "input_tokens": 10**20,
            "output_tokens": 3,
            "events": 1,
        }
    ]
    insert(c, *rows, segment(30, 30))
    publish(c, DB, "2025", now=T1)
    insert(c, volume(D, "IOT", "CN-GD", 3, "x", late=1), segment(31, 1))
    publish(c, DB, "2025", now=T2)
    return c


def _by_key(rows: list[Observation]) -> dict[tuple[str, ...], Observation]:
    return {(*o.series, o.indicator, o.time_period, str(o.vintage_id)): o for o in rows}


def test_sdmx_csv_reads_back_exactly_with_pysdmx(client: Client) -> None:
    from pysdmx.io import read_sdmx

    rows = observations(client, DB, "DATA_CREATED")
    text = to_sdmx_csv("DATA_CREATED", rows)
    assert text.startswith(
        "STRUCTURE,STRUCTURE_ID,ACTION,FREQ,REF_AREA,SOURCE,INDICATOR,TIME_PERIOD,OBS_VALUE,UNIT_MEASURE,OBS_STATUS,CONF_STATUS,"
    )
    message: Any = read_sdmx(text)  # pysdmx's Message: datasets as pandas frames
    (dataset,) = message.data
    assert dataset.short_urn == "Dataflow=ZL:DATA_CREATED(1.0)"
    back = dataset.data.to_dict("records")
    assert len(back) == len(rows)
    expected = _by_key(rows)
    for rec in back:
        o = expected[(rec["REF_AREA"], rec["SOURCE"], rec["INDICATOR"], rec["TIME_PERIOD"], rec["VINTAGE"])]
        assert (rec["OBS_VALUE"] or "") == o.obs_value
        assert (rec["UNIT_MEASURE"], rec["OBS_STATUS"], rec["CONF_STATUS"]) == (o.unit, o.obs_status, o.conf_status)
    # The figures themselves: the dominant and the small cell are suppressed, their values never printed.
    by_cell = {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): r for r in back}
    assert by_cell[("CN-BJ", "AI", "BYTES")]["CONF_STATUS"] == "O" and not by_cell[("CN-BJ", "AI", "BYTES")]["OBS_VALUE"]
    assert by_cell[("CN-SH", "IOT", "BYTES")]["CONF_STATUS"] == "A"
    assert str(10**24 + 20) not in text and str(2**64 + 8) not in text
    # The dominant producers dominate the margins they feed too, so those are primary cells themselves; the
    # pattern then needs no secondary cell (every line holds 0 or >= 2, no bridge). Exactly:
    assert {k[:2]: (r["OBS_VALUE"], r["CONF_STATUS"]) for k, r in by_cell.items() if k[2] == "BYTES"} == {
        ("CN-BJ", "AI"): ("", "O"),
        ("CN-BJ", "IOT"): ("300", "F"),
        ("CN-BJ", "_T"): ("", "O"),
        ("CN-GD", "AI"): ("900", "F"),
        ("CN-GD", "IOT"): ("1503", "F"),
        ("CN-GD", "_T"): ("2403", "F"),
        ("CN-SH", "AI"): ("600", "F"),
        ("CN-SH", "IOT"): ("", "A"),
        ("CN-SH", "_T"): ("", "O"),
        ("_T", "AI"): ("", "O"),
        ("_T", "IOT"): ("", "O"),
        ("_T", "_T"): ("", "O"),
    }


def test_unsuppressed_export_for_an_allowed_role_shows_the_1e24_cell_exactly_in_every_format(
    client: Client, tmp_path: Path
) -> None:
    from pysdmx.io import read_sdmx

    rows = observations(client, DB, "DATA_CREATED", unsuppressed=True)
    want = {(*o.series, o.indicator): o.value for o in rows}
    assert want[("CN-BJ", "AI", "BYTES")] == 10**24 + 20
    assert want[("CN-SH", "IOT", "BYTES")] == 2**64 + 8

    message: Any = read_sdmx(to_sdmx_csv("DATA_CREATED", rows))
    sdmx = message.data[0].data.to_dict("records")
    assert {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in sdmx} == want

    plain = list(csv.DictReader(io.StringIO(to_csv("DATA_CREATED", rows))))
    assert {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in plain} == want
    assert {r["DATAFLOW"] for r in plain} == {"ZL:DATA_CREATED(1.0)"}

    path = tmp_path / "created.parquet"
    to_parquet("DATA_CREATED", rows, path)
    table = pq.read_table(path)
    assert str(table.schema.field("OBS_VALUE").type) == "decimal128(38, 0)"
    back = table.to_pylist()
    assert all(isinstance(r["OBS_VALUE"], Decimal) for r in back)
    assert {(r["REF_AREA"], r["SOURCE"], r["INDICATOR"]): int(r["OBS_VALUE"]) for r in back} == want
    assert table.schema.metadata[b"sdmx_structure_id"] == b"ZL:DATA_CREATED(1.0)"


def test_parquet_widens_to_decimal256_past_1e38_and_refuses_past_1e76(tmp_path: Path) -> None:
    base = Observation(("CN-BJ", "AI"), "BYTES", "2025", 10**40, "BYTES", "P", "F", 1, T1)
    to_parquet("DATA_CREATED", [base], tmp_path / "wide.parquet")
    table = pq.read_table(tmp_path / "wide.parquet")
    assert str(table.schema.field("OBS_VALUE").type) == "decimal256(76, 0)"
    assert int(table.to_pylist()[0]["OBS_VALUE"]) == 10**40
    with pytest.raises(ValueError, match="76"):
        to_parquet(
            "DATA_CREATED",
            [Observation(("X", "AI"), "BYTES", "2025", 2**256 - 1, "BYTES", "P", "F", 1, T1)],
            tmp_path / "x.parquet",
        )


def test_vintage_as_of_updated_after_and_history(client: Client) -> None:
    first = observations(client, DB, "DATA_CREATED", vintage=1, unsuppressed=True)
    assert observations(client, DB, "DATA_CREATED", as_of=T1 + dt.timedelta(days=1), unsuppressed=True) == first
    gd_iot = {o.vintage_id: o.value for o in first if o.series == ("CN-GD", "IOT") and o.indicator == "BYTES"}
    assert gd_iot == {1: 1500}
    latest = observations(client, DB, "DATA_CREATED", unsuppressed=True)
    assert [o.value for o in latest if o.series == ("CN-GD", "IOT") and o.indicator == "BYTES"] == [1503]
    # Updated after the first publication: the revised cell and the margins it feeds, nothing else.
    updated = observations(client, DB, "DATA_CREATED", updated_after=T1, unsuppressed=True)
    assert {o.series for o in updated} == {("CN-GD", "IOT"), ("CN-GD", "_T"), ("_T", "IOT"), ("_T", "_T")}
    assert to_sdmx_csv("DATA_CREATED", updated, incremental=True).splitlines()[1].startswith("dataflow,ZL:DATA_CREATED(1.0),A,")
    # History: both versions of the revised cell, each dated by its vintage; a close adds the A versions.
    close(client, DB, "2025", now=T3)
    history = [
        o
        for o in observations(client, DB, "DATA_CREATED", include_history=True, unsuppressed=True)
        if o.series == ("CN-GD", "IOT") and o.indicator == "BYTES"
    ]
    assert [(o.vintage_id, o.value, o.obs_status, o.valid_from) for o in history] == [
        (1, 1500, "P", T1),
        (2, 1503, "P", T2),
        (3, 1503, "A", T3),
    ]


def test_tokens_export_daily_keeps_units_and_has_no_disclosure_columns_filled_wrongly(client: Client) -> None:
    rows = observations(client, DB, "TOKENS", freq="D")
    assert {(o.indicator, o.time_period, o.value, o.unit, o.conf_status) for o in rows} == {
        ("INPUT_TOKENS", "2025-03-01", 10**20, "TOKENS", "F"),
        ("OUTPUT_TOKENS", "2025-03-01", 3, "TOKENS", "F"),
    }
    header = to_sdmx_csv("TOKENS", rows, freq="D").splitlines()[0]
    assert header.split(",")[3:8] == ["FREQ", "REF_AREA", "MODEL", "PROVIDER", "INDICATOR"]


def test_rules_come_from_the_caller(client: Client) -> None:
    lenient = Rules(min_reporters=1, dominance_n=1, dominance_k=Rules().dominance_k.__class__(100))
    assert all(o.conf_status == "F" for o in observations(client, DB, "DATA_CREATED", rules=lenient))
