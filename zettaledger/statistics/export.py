"""Exports of the national dataflows as SDMX-CSV 2.0, plain CSV and Parquet, from vintages only.

Structure ids (agency ZL, version 1.0), one per dataflow in ``sinks.dataflows.DATAFLOWS``:
``ZL:DATA_CREATED(1.0)``, ``ZL:TOKENS(1.0)``, ``ZL:HQ_DATASETS(1.0)``, ``ZL:COLLECTION(1.0)``.

SDMX-CSV 2.0 columns (sdmx-twg/sdmx-csv v2.0.0): ``STRUCTURE`` (always ``dataflow``),
``STRUCTURE_ID``, ``ACTION`` (``I`` information; ``A`` append for ``--updated-after``, an
incremental update), then the dimensions ``FREQ`` (A/M/D), the flow's series dimensions,
``INDICATOR``, ``TIME_PERIOD``; the measure ``OBS_VALUE`` (a non-negative integer written
in full, never a float: a BIG_INTEGER-style component); the attributes ``UNIT_MEASURE``
(BYTES, RECORDS, EVENTS, TOKENS, DATASETS, RUNS, CAPTURES), ``OBS_STATUS``
(CL_OBS_STATUS: P provisional, A normal) and ``CONF_STATUS`` (CL_CONF_STATUS, see
``disclosure``); and two custom columns the spec allows: ``VINTAGE`` (the vintage that
set the value) and ``VALID_FROM`` (when it was published). A suppressed value is an empty
``OBS_VALUE`` with its CONF_STATUS; the row is never dropped.

Selection, in SDMX REST terms: ``vintage`` (or ``as_of``: the latest vintage published at or
before that time) picks the state; ``updated_after`` keeps observations whose value was
set by a vintage published after it; ``include_history`` gives every value an observation
ever had up to the state, each with its VALID_FROM.

DATA_CREATED is protected by disclosure control per REF_AREA x SOURCE table (one per
period and frequency), with its margins (``_T``) published; ``unsuppressed=True`` is for a
role allowed to see every value (the caller checks the role).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal

from zettaledger.sinks.client import Reader
from zettaledger.sinks.dataflows import DATAFLOWS, Dataflow, FigureKey, FigureValue
from zettaledger.sinks.vintages import VintageError, VintageRow, figure_history, list_vintages
from zettaledger.statistics.disclosure import DEFAULT_RULES, TOTAL, Rules, protect_table
from zettaledger.statistics.vintages import obs_status

__all__ = ["Observation", "observations", "pick_vintage", "to_csv", "to_parquet", "to_sdmx_csv"]

Freq = Literal["A", "M", "D"]
_PERIOD_CHARS = {"A": 4, "M": 7, "D": 10}


@dataclass(frozen=True)
class Observation:
    series: tuple[str, ...]
    indicator: str
    time_period: str
    value: int
    unit: str
    obs_status: str
    conf_status: str
    vintage_id: int
    valid_from: dt.datetime
    shown: bool = True  # False when suppressed: OBS_VALUE is left empty

    @property
    def obs_value(self) -> str:
        return str(self.value) if self.shown else ""


def pick_vintage(vintages: Sequence[VintageRow], vintage: int | None = None, as_of: dt.datetime | None = None) -> VintageRow:
    """``--vintage V`` or ``--as-of T`` (the latest at or before T), else the latest vintage."""
    if vintage is not None and as_of is not None:
        raise ValueError("give --vintage or --as-of, not both")
    if vintage is not None:
        found = [v for v in vintages if v.vintage_id == vintage]
    elif as_of is not None:
        found = [v for v in vintages if v.published_at <= as_of][-1:]
    else:
        found = list(vintages[-1:])
    if not found:
        raise VintageError(f"no vintage matches (vintage={vintage}, as_of={as_of}); publish first with `zl publish --period`")
    return found[0]


def _state_observations(
    flow: Dataflow,
    state: Mapping[FigureKey, tuple[FigureValue, int]],
    vintages: Sequence[VintageRow],
    at: int,
    freq: Freq,
    rules: Rules,
    unsuppressed: bool,
) -> dict[tuple[tuple[str, ...], str, str], Observation]:
    """The observations of one state (figure -> value and the vintage that last set it). Pure."""
    published = {v.vintage_id: v.published_at for v in vintages}
    sums: dict[tuple[tuple[str, ...], str, str], list[int]] = defaultdict(lambda: [0, 0])
    days: dict[tuple[tuple[str, ...], str, str], set[str]] = defaultdict(set)
    contributions: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    n = _PERIOD_CHARS[freq]
    for key, (value, changed) in state.items():
        period = key.time_period[:n]
        if key.reporter:
            contributions[period][(key.series[0], key.series[1])][key.reporter] += value.value
            continue
        k = (key.series, key.indicator, period)
        sums[k][0] += value.value
        sums[k][1] = max(sums[k][1], changed)
        days[k].add(key.time_period)
    out = {}
    for (series, indicator, period), (total, newest) in sums.items():
        closed = all(obs_status(d, vintages, at) == "A" for d in days[(series, indicator, period)])
        out[(series, indicator, period)] = Observation(
            series, indicator, period, total, flow.units[indicator], "A" if closed else "P", "F", newest, published[newest]
        )
    if flow.id == "DATA_CREATED":
        out = _protect(out, contributions, rules, unsuppressed)
    return out


def _protect(
    obs: dict[tuple[tuple[str, ...], str, str], Observation],
    contributions: Mapping[str, Mapping[tuple[str, str], Mapping[str, int]]],
    rules: Rules,
    unsuppressed: bool,
) -> dict[tuple[tuple[str, ...], str, str], Observation]:
    """REF_AREA x SOURCE tables per period: CONF_STATUS on every cell, and the margins added."""
    out = dict(obs)
    for period, table in contributions.items():
        protected = protect_table(table, rules)
        for indicator in ("BYTES", "RECORDS", "EVENTS"):
            cells = {(s[0], s[1]): o for (s, ind, p), o in obs.items() if ind == indicator and p == period}
            if not cells:
                continue
            template = next(iter(cells.values()))
            for cell, status in protected.status.items():
                key = ((cell[0], cell[1]), indicator, period)
                if cell in cells:
                    base = cells[cell]
                else:  # a margin: the exact sum of its cells, its status the latest of theirs
                    parts = [o for c, o in cells.items() if (cell[0] in (TOTAL, c[0])) and (cell[1] in (TOTAL, c[1]))]
                    if not parts:
                        continue
                    newest = max(parts, key=lambda o: o.vintage_id)
                    base = replace(
                        template,
                        series=(cell[0], cell[1]),
                        value=sum(o.value for o in parts),
                        obs_status="A" if all(o.obs_status == "A" for o in parts) else "P",
                        vintage_id=newest.vintage_id,
                        valid_from=newest.valid_from,
                    )
                out[key] = replace(base, conf_status=status, shown=unsuppressed or status == "F")
    return out


def observations(
    client: Reader,
    database: str,
    dataflow: str,
    *,
    vintage: int | None = None,
    as_of: dt.datetime | None = None,
    updated_after: dt.datetime | None = None,
    include_history: bool = False,
    freq: Freq = "A",
    rules: Rules = DEFAULT_RULES,
    unsuppressed: bool = False,
) -> list[Observation]:
    """``zl export``'s rows: the dataflow at the chosen vintage, or its history up to it."""
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow {dataflow!r}: choose one of {', '.join(DATAFLOWS)}")
    flow = DATAFLOWS[dataflow]
    vintages = list_vintages(client, database)
    at = pick_vintage(vintages, vintage, as_of).vintage_id
    history = figure_history(client, database, at, dataflows=[dataflow])
    by_vintage: dict[int, list[tuple[FigureKey, FigureValue]]] = defaultdict(list)
    for key, value, vid in history:
        by_vintage[vid].append((key, value))
    # Replay the stored changes in vintage order; with history, every state a close or a change made.
    closes = {v.vintage_id for v in vintages if v.action == "close" and v.vintage_id <= at}
    steps = sorted(set(by_vintage) | closes) if include_history else [at]
    state: dict[FigureKey, tuple[FigureValue, int]] = {}
    pending = sorted(by_vintage)
    rows: list[Observation] = []
    last: dict[tuple[tuple[str, ...], str, str], Observation] = {}
    for step in steps:
        while pending and pending[0] <= step:
            v = pending.pop(0)
            state.update({key: (value, v) for key, value in by_vintage[v]})
        current = _state_observations(flow, state, [v for v in vintages if v.vintage_id <= step], step, freq, rules, unsuppressed)
        if include_history:  # each version dated by the vintage that made it (a close changes OBS_STATUS only)
            when = next(v.published_at for v in vintages if v.vintage_id == step)
            rows.extend(replace(o, vintage_id=step, valid_from=when) for k, o in current.items() if last.get(k) != o)
        else:
            rows = list(current.values())
        last = current
    if updated_after is not None:
        rows = [o for o in rows if o.valid_from > updated_after]
    return sorted(rows, key=lambda o: (o.series, o.indicator, o.time_period, o.vintage_id))


def _columns(flow: Dataflow) -> list[str]:
    return [
        "FREQ",
        *flow.dimensions,
        "INDICATOR",
        "TIME_PERIOD",
        "OBS_VALUE",
        "UNIT_MEASURE",
        "OBS_STATUS",
        "CONF_STATUS",
        "VINTAGE",
        "VALID_FROM",
    ]


def _fields(o: Observation, freq: Freq) -> list[str]:
    return [
        freq,
        *o.series,
        o.indicator,
        o.time_period,
        o.obs_value,
        o.unit,
        o.obs_status,
        o.conf_status,
        str(o.vintage_id),
        o.valid_from.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
    ]


def _write(header: list[str], rows: Iterable[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def to_sdmx_csv(dataflow: str, rows: Iterable[Observation], freq: Freq = "A", incremental: bool = False) -> str:
    """SDMX-CSV 2.0 (``application/vnd.sdmx.data+csv; version=2.0.0``)."""
    flow = DATAFLOWS[dataflow]
    action = "A" if incremental else "I"
    return _write(
        ["STRUCTURE", "STRUCTURE_ID", "ACTION", *_columns(flow)],
        (["dataflow", flow.structure_id, action, *_fields(o, freq)] for o in rows),
    )


def to_csv(dataflow: str, rows: Iterable[Observation], freq: Freq = "A") -> str:
    """Plain CSV: the same columns after a DATAFLOW column, for spreadsheets and scripts."""
    flow = DATAFLOWS[dataflow]
    return _write(["DATAFLOW", *_columns(flow)], ([flow.structure_id, *_fields(o, freq)] for o in rows))


_DECIMAL128_LIMIT = 10**38
_DECIMAL256_LIMIT = 10**76


def to_parquet(dataflow: str, rows: Sequence[Observation], path: Path, freq: Freq = "A") -> None:
    """Parquet with OBS_VALUE as DECIMAL(38,0): exact, and read as such by pyarrow, DuckDB, Spark and pandas.

    decimal128(38, 0) holds every integer below 1e38 (a hundred billion yottabytes). Only if a value
    is larger does the column become decimal256(76, 0), which fewer readers support; beyond 1e76
    (UInt256 goes to 1.2e77) Parquet has no exact decimal and the export refuses rather than round.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    flow = DATAFLOWS[dataflow]
    biggest = max((o.value for o in rows), default=0)
    if biggest >= _DECIMAL256_LIMIT:
        raise ValueError(
            f"{dataflow}: a value has {len(str(biggest))} digits; Parquet decimals hold 76 at most: export CSV instead"
        )
    value_type = pa.decimal128(38, 0) if biggest < _DECIMAL128_LIMIT else pa.decimal256(76, 0)
    names = _columns(flow)
    columns: dict[str, pa.Array] = {}
    for i, name in enumerate(names):
        if name == "OBS_VALUE":
            columns[name] = pa.array([Decimal(o.value) if o.shown else None for o in rows], type=value_type)
        elif name == "VINTAGE":
            columns[name] = pa.array([o.vintage_id for o in rows], type=pa.uint64())
        elif name == "VALID_FROM":
            columns[name] = pa.array([o.valid_from for o in rows], type=pa.timestamp("ms", tz="UTC"))
        else:
            columns[name] = pa.array([_fields(o, freq)[i] for o in rows], type=pa.string())
    table = pa.table(columns).replace_schema_metadata({"sdmx_structure_id": flow.structure_id, "sdmx_structure": "dataflow"})
    pq.write_table(table, path)
