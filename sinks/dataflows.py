"""The national dataflows a vintage freezes, declared once: the SQL that reads them,
the exports and the charts all take their dimensions and units from here.

A *figure* is one exact integer: a dataflow, a day (``time_period``, ISO ``YYYY-MM-DD``),
the series' dimension values in the flow's order, an indicator (bytes, records, ...) and,
for the confidential contributions disclosure control needs, the reporter
(a ``producer_id``; ``""`` for the published figure itself). Figures are stored per day,
the finest grain, so a month or a year is an exact sum of them.

Pure: no ClickHouse here, so the declarations are tested alone.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CONTEXT",
    "DATAFLOWS",
    "Dataflow",
    "FigureKey",
    "FigureValue",
    "Period",
    "decode_series",
    "encode_series",
]


@dataclass(frozen=True)
class Dataflow:
    """One SDMX dataflow: ``ZL:<id>(<version>)``; its series dimensions come before INDICATOR and TIME_PERIOD."""

    id: str
    name: str
    dimensions: tuple[str, ...]
    units: MappingProxyType[str, str]  # INDICATOR -> UNIT_MEASURE
    agency: str = "ZL"
    version: str = "1.0"

    @property
    def structure_id(self) -> str:
        return f"{self.agency}:{self.id}({self.version})"


def _flow(id: str, name: str, dimensions: tuple[str, ...], units: dict[str, str]) -> Dataflow:
    return Dataflow(id, name, dimensions, MappingProxyType(units))


DATAFLOWS: Final = MappingProxyType(
    {
        "DATA_CREATED": _flow(
            "DATA_CREATED",
            "Data created by source and region",
            ("REF_AREA", "SOURCE"),
            {"BYTES": "BYTES", "RECORDS": "RECORDS", "EVENTS": "EVENTS"},
        ),
        "TOKENS": _flow(
            "TOKENS",
            "AI tokens used by model, provider and region",
            ("REF_AREA", "MODEL", "PROVIDER"),
            {"INPUT_TOKENS": "TOKENS", "OUTPUT_TOKENS": "TOKENS"},
        ),
        "HQ_DATASETS": _flow(
            "HQ_DATASETS",
            "High-quality datasets registered, by region and day of first registration",
            ("REF_AREA",),
            {"DATASETS": "DATASETS", "BYTES": "BYTES"},
        ),
        "COLLECTION": _flow(
            "COLLECTION",
            "Robotic data collection by pipeline",
            ("REF_AREA", "PIPELINE"),
            {
                "RUNS": "RUNS",
                "ATTEMPTED_CAPTURES": "CAPTURES",
                "USABLE_CAPTURES": "CAPTURES",
                "ATTEMPTED_BYTES": "BYTES",
                "USABLE_BYTES": "BYTES",
            },
        ),
    }
)

# Not a national dataflow: what the report prints beside the figures (ingest counts,
# the register, the lineage summary), a snapshot of the whole ledger taken with each
# vintage. Stored with time_period "" so "latest at or before V" is V's snapshot.
CONTEXT: Final = "CONTEXT"


def encode_series(values: tuple[str, ...]) -> str:
    """A series key as stored: canonical JSON, so any value (dots, commas, quotes) round-trips."""
    return json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)


def decode_series(text: str) -> tuple[str, ...]:
    return tuple(str(v) for v in json.loads(text))


@dataclass(frozen=True, order=True)
class FigureKey:
    dataflow: str
    time_period: str  # ISO day, or "" for CONTEXT
    series: tuple[str, ...]
    indicator: str
    reporter: str = ""  # producer_id of a confidential contribution; "" for the figure


@dataclass(frozen=True)
class FigureValue:
    value: int
    late: int = 0  # the part of ``value`` counted from adjustment rows (events later than the lateness limit)


_DAY = r"\d{4}-\d{2}-\d{2}"


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: a year ``2025``, a month ``2025-03``, a day ``2025-03-14`` or a range ``2025-03-01..2025-03-15``."""

    first: dt.date
    last: dt.date
    label: str

    @classmethod
    def parse(cls, text: str) -> Period:
        text = text.strip()
        try:
            if re.fullmatch(r"\d{4}", text):
                y = int(text)
                return cls(dt.date(y, 1, 1), dt.date(y, 12, 31), text)
            if re.fullmatch(r"\d{4}-\d{2}", text):
                y, m = (int(x) for x in text.split("-"))
                first = dt.date(y, m, 1)
                nxt = dt.date(y + m // 12, m % 12 + 1, 1)
                return cls(first, nxt - dt.timedelta(days=1), text)
            if re.fullmatch(_DAY, text):
                d = dt.date.fromisoformat(text)
                return cls(d, d, text)
            if re.fullmatch(rf"{_DAY}\.\.{_DAY}", text):
                a, b = (dt.date.fromisoformat(x) for x in text.split(".."))
                if b < a:
                    raise ValueError(f"the range ends ({b}) before it starts ({a})")
                return cls(a, b, text)
        except ValueError as exc:
            raise ValueError(f"period {text!r}: {exc}") from exc
        raise ValueError(
            f"period {text!r}: write a year (2025), a month (2025-03), a day (2025-03-14) or a range (2025-03-01..2025-03-15)"
        )

    def covers(self, other: Period) -> bool:
        return self.first <= other.first and other.last <= self.last

    def holds(self, day_iso: str) -> bool:
        return self.first.isoformat() <= day_iso <= self.last.isoformat()
