"""The national data accounts table, formatted from ``NationalAccounts``. Pure: no database here.

With ``Flags`` (``zl report --manifest``), each line that prints a modelled figure ends with its
flag (``[E1]``, SDMX's OBS_STATUS E: estimated) and the notes follow the table, naming the
generator's manifest as their source. Without flags the table is exactly what it always was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from zettaledger.sinks.queries import LineageAccounts, NationalAccounts
from zettaledger.statistics.provenance import TOKEN_ANCHOR_DAYS, Footnote

__all__ = ["NATIONAL_LIBRARY_DIGITAL_BYTES", "Flags", "format_bytes", "growth_pct", "render", "unit_for"]

# Assumed size of the national library's digital resources: 2.87 PB, the figure
# implied by the published "890 PB is about 310x the national library" ratio.
NATIONAL_LIBRARY_DIGITAL_BYTES = 2_870 * 10**12

_UNITS = (("ZB", 10**21), ("EB", 10**18), ("PB", 10**15), ("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3))
SOURCE_LABELS = {
    "AI": "AI and system software",
    "IOT": "IoT sensing",
    "TRAINING": "AI training",
    "INFERENCE": "AI inference",
    "OTHER": "Other",
}


# Control characters (C0, DEL, C1) and the bidirectional overrides, shown as escapes: a name a producer
# sent (a pipeline id, a reason) cannot move the cursor, clear the screen, add a line or reorder text.
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)
}


def visible(text: str) -> str:
    """``text`` with every control character rendered as an escape (``\\x1b``, ``\\x0a``, ``\\u202e``)."""
    return text.translate(_VISIBLE)


def _round(value: Decimal, places: int = 2) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def unit_for(*values: int) -> str:
    """The unit of a row: the largest one its largest value reaches, so every value of the row shares it.

    Each row chooses from its own magnitude (a small country's total reads in GB, not "0.00 ZB"), and the
    values within a row (two years, usable of attempted) stay comparable at a glance.
    """
    top = max(values, default=0)
    return next((u for u, size in _UNITS if top >= size), "B")


def format_bytes(n: int, unit: str | None = None) -> str:
    """Decimal SI units (1 PB = 1e15 B), two decimals, computed exactly from the integer."""
    if unit is None:
        unit = unit_for(n)
    size = dict(_UNITS).get(unit, 1)
    return f"{_round(Decimal(n) / Decimal(size))} {unit}"


def growth_pct(new: int, old: int) -> str:
    if old == 0:
        return "n/a"
    pct = _round((Decimal(new) / Decimal(old) - 1) * 100)
    return f"{pct:+}%"


def _sci(n: int) -> str:
    return f"{n:.2e}".replace("e+", "e")


def _multiple(new: int, old: int) -> str:
    if old == 0:
        return "n/a"
    ratio = Decimal(new) / Decimal(old)
    return f"{_round(ratio, 1 if ratio < 100 else 0)}x"


class Flags:
    """Footnotes for modelled figures, numbered E1, E2, ... in the order the report first prints them.

    Figures that share a note (the 2024 split of every source) share its flag.
    """

    def __init__(self, footnotes: Sequence[Footnote], source: str) -> None:
        self._by_figure = {f.figure: f for f in footnotes}
        self._notes = {(f.flag, f.note) for f in footnotes}
        self.source = source
        self.used: list[tuple[str, str]] = []  # (flag, note), in order of first use
        self.figures: dict[tuple[str, str], list[Footnote]] = {}

    def __call__(self, *figures: str) -> str:
        """`` [E1] [E3]`` for the figures that have a footnote ("" for none): appended to the line printing them."""
        marks = []
        for figure in figures:
            note = self._by_figure.get(figure)
            if note is None:
                continue
            key = (note.flag, note.note)
            if key not in self.used:
                self.used.append(key)
            if note not in self.figures.setdefault(key, []):
                self.figures[key].append(note)
            mark = f"[E{self.used.index(key) + 1}]"
            if mark not in marks:
                marks.append(mark)
        return "".join(f" {m}" for m in sorted(marks, key=lambda m: int(m[2:-1])))

    def tokens(self, *days: dt.date) -> str:
        """The interpolation note, when any of ``days`` is not a published anchor day."""
        return self("tokens/by_day") if any(d.isoformat() not in TOKEN_ANCHOR_DAYS for d in days) else ""

    def notes(self) -> list[str]:
        """One line per flag used: ``[E1] (flag) note: figures``."""
        out = []
        for i, key in enumerate(self.used, 1):
            shown = ", ".join(f.figure + (f" = {f.value:,}" if f.value is not None else "") for f in self.figures[key])
            out.append(f"[E{i}] ({key[0]}) {key[1]}: {shown}")
        return out

    def lines(self) -> list[str]:
        if not self.used:
            return []
        unused = len(self._notes) - len(self.used)
        return [
            f"Published versus modelled (source: the generator's manifest, {self.source}; SDMX OBS_STATUS E)",
            *(f"  {n}" for n in self.notes()),
            *([f"  the manifest notes {unused} more kinds of modelled figure, not printed in this table"] if unused else []),
        ]


def _no_flags(*figures: str) -> str:
    return ""


# Root sources: a root with counted bytes has their source; one only registered says how (sinks.lineage_graph).
ROOT_LABELS = {**SOURCE_LABELS, "HIGH_QUALITY": "registered high-quality datasets", "REGISTERED": "other registered datasets"}


def _share(part: int, whole: int) -> str:
    return f"{_round(Decimal(part) * 100 / whole, 2)}%" if whole else "-"


def _lineage_accounts(la: LineageAccounts, flag: Callable[..., str]) -> list[str]:
    """Gross versus net new, unique / derived / replicated, and the root sources of AI inference data."""
    unit = unit_for(la.gross)
    ratio = f"{_round(Decimal(la.replicated) / la.net_new, 4)}" if la.net_new else "-"
    lines = [
        f"Lineage accounts {la.year}: gross {format_bytes(la.gross, unit)}, net new (unique + derived) "
        f"{format_bytes(la.net_new, unit)}; replication ratio {ratio}",
        f"  unique (created or captured) {format_bytes(la.unique)} ({_share(la.unique, la.gross)}), "
        f"derived {format_bytes(la.derived)} ({_share(la.derived, la.gross)}), "
        f"replicated {format_bytes(la.replicated)} ({_share(la.replicated, la.gross)})" + flag("lineage/replicated"),
    ]
    if la.unclassified:
        lines.append(f"  unclassified (written before derivation was recorded) {format_bytes(la.unclassified, unit)}")
    if la.inference_roots:
        unit = unit_for(la.inference_bytes)
        top = ", ".join(
            f"{ROOT_LABELS.get(s, s)} {format_bytes(b, unit)} ({_share(b, la.inference_bytes)})"
            for s, b in la.inference_roots[:5]
        )
        partial = " (partial: a bound stopped some bytes before their roots)" if la.partial else ""
        lines.append(f"  AI inference data {la.year} by the root sources it descends from: {top}{partial}")
    return lines


def render(
    accounts: NationalAccounts,
    token_dates: Sequence[dt.date],
    token_month: tuple[int, int],
    years: tuple[int, int],
    flags: Flags | None = None,
) -> str:
    prev, year = years
    out: list[str] = []

    def add(line: str) -> None:  # every line: producer-supplied names are in some of them
        out.append(visible(line))

    flag = flags or _no_flags
    tokens_flag = flags.tokens if flags else (lambda *days: "")
    add("Zettaledger national data accounts")
    add("=" * 78)
    add("")
    add(f"Data created by source ({prev} -> {year})")
    add(f"  {'source':<26}{prev:>14}{year:>14}{'growth':>12}")
    sources = sorted({s for (_, s) in accounts.created}, key=lambda s: -accounts.created_by(year, s))
    for s in sources:
        a, b = accounts.created_by(prev, s), accounts.created_by(year, s)
        unit = unit_for(a, b)
        add(
            f"  {SOURCE_LABELS.get(s, s):<26}{format_bytes(a, unit):>14}{format_bytes(b, unit):>14}{growth_pct(b, a):>12}"
            + flag(f"data_created/{prev}/{s}/bytes", f"data_created/{year}/{s}/bytes")
        )
    t_prev, t_year = accounts.created_total(prev), accounts.created_total(year)
    unit = unit_for(t_prev, t_year)
    add(f"  {'Total':<26}{format_bytes(t_prev, unit):>14}{format_bytes(t_year, unit):>14}{growth_pct(t_year, t_prev):>12}")
    add(f"  exact total {year}: {t_year:,} B")
    ai, iot = accounts.created_by(year, "AI"), accounts.created_by(year, "IOT")
    ai_p, iot_p = accounts.created_by(prev, "AI"), accounts.created_by(prev, "IOT")
    lead = "AI and system software ahead of IoT" if ai > iot else "IoT ahead of AI and system software"
    lead_prev = "AI ahead" if ai_p > iot_p else "IoT ahead"
    overtook = " (overtaking IoT for the first time)" if ai > iot and ai_p <= iot_p else ""
    unit = unit_for(ai, iot)
    add(
        f"  AI vs IoT: {year} {lead}{overtook}: {format_bytes(ai, unit)} vs {format_bytes(iot, unit)}; {prev}: {lead_prev}"
        + flag(*(f"data_created/{y}/{s}/bytes" for y in (year, prev) for s in ("AI", "IOT")))
    )
    add("")
    train, infer = accounts.created_by(year, "TRAINING"), accounts.created_by(year, "INFERENCE")
    train_p, infer_p = accounts.created_by(prev, "TRAINING"), accounts.created_by(prev, "INFERENCE")
    add(f"AI data deployed in {year} (training + inference): {format_bytes(train + infer)}")
    first = " for the first time" if infer > train and infer_p <= train_p else ""
    verdict = "exceeded" if infer > train else "did not exceed"
    unit = unit_for(infer, train, infer_p, train_p)
    add(
        f"  inference {format_bytes(infer, unit)} {verdict} training {format_bytes(train, unit)}{first}"
        f" ({prev}: inference {format_bytes(infer_p, unit)}, training {format_bytes(train_p, unit)})"
        + flag(*(f"data_created/{y}/{s}/bytes" for y in (year, prev) for s in ("INFERENCE", "TRAINING")))
    )
    add("")
    add("Daily AI token usage")
    base_day = token_dates[0] if token_dates else None
    base = accounts.tokens_by_day.get(base_day, 0) if base_day else 0
    add(f"  {'date':<18}{'tokens/day':>14}{'x ' + str(base_day):>20}")
    last = 0
    for d in token_dates:
        n = accounts.tokens_by_day.get(d, 0)
        last = n
        add(f"  {d.isoformat():<18}{_sci(n):>14}{_multiple(n, base):>20}" + tokens_flag(d))
    total, days = accounts.tokens_month_average(*token_month)
    avg = total // days if days else 0
    label = f"{token_month[0]}-{token_month[1]:02d} average"
    month_days = sorted(d for d in accounts.tokens_by_day if (d.year, d.month) == token_month)
    add(
        f"  {label:<18}{_sci(avg):>14}{_multiple(avg, base):>20}   ({growth_pct(avg, last)} on {token_dates[-1] if token_dates else '-'}; {days} days)"
        + tokens_flag(*month_days)
    )
    add("")
    ratio = Decimal(accounts.high_quality_bytes) / Decimal(NATIONAL_LIBRARY_DIGITAL_BYTES)
    add(
        f"Registered high-quality datasets: {accounts.high_quality_datasets:,} totalling {format_bytes(accounts.high_quality_bytes)}"
    )
    add(
        f"  about {_round(ratio, 0)}x the national library's digital resources "
        f"(assumed {format_bytes(NATIONAL_LIBRARY_DIGITAL_BYTES, 'PB')}); {accounts.registered_datasets:,} datasets registered in all"
        + flag("report/national_library_bytes")
    )
    add("")
    if accounts.collection:
        best = max(accounts.collection, key=lambda c: Decimal(c.usable_captures) / max(c.attempted_captures, 1))
        att = sum(c.attempted_captures for c in accounts.collection)
        use = sum(c.usable_captures for c in accounts.collection)
        add("Robotic data-collection efficiency (usable / attempted captures)" + flag("regions"))
        for c in accounts.collection:
            eff = _round(Decimal(c.usable_captures) * 100 / max(c.attempted_captures, 1))
            unit = unit_for(c.usable_bytes, c.attempted_bytes)
            add(
                f"  {c.pipeline_id:<26}{eff:>8}%   {c.runs:,} runs, "
                f"usable {format_bytes(c.usable_bytes, unit)} of {format_bytes(c.attempted_bytes, unit)}"
            )
        best_eff = _round(Decimal(best.usable_captures) * 100 / max(best.attempted_captures, 1))
        add(f"  up to {best_eff}% ({best.pipeline_id}); overall {_round(Decimal(use) * 100 / max(att, 1))}%")
        add("")
    lin = accounts.lineage
    add(
        f"Lineage: {lin.edges:,} parent->child edges; {lin.derived_datasets:,} derived datasets from "
        f"{lin.root_datasets:,} roots; longest chain {lin.max_depth} steps; {format_bytes(lin.derived_bytes)} created from parents"
    )
    add("")
    if accounts.lineage_accounts is not None:
        out.extend(_lineage_accounts(accounts.lineage_accounts, flag))
        add("")
    add(
        f"Ingest: {accounts.events_counted:,} events counted in {accounts.flushes:,} partition segments; "
        f"{accounts.duplicates_dropped:,} resent duplicates dropped; {accounts.dead_lettered:,} dead-lettered"
    )
    for reason, n in sorted(accounts.rejections.items()):
        add(f"  dead letters {reason}: {n:,}")
    if flags is not None and flags.used:
        add("")
        out.extend(flags.lines())
    return "\n".join(out) + "\n"
