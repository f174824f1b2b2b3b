"""Publish, close and revise the national accounts as vintages.

The model (why it is shaped so):

- A *vintage* freezes every figure of a period: ``publish(period)`` reads the figures
  from the ledger per day, exact, compares them with the latest vintage, and stores only
  those that changed (``sinks.vintages``). Reading vintage V is "the latest row per
  figure at or before V", so unchanged figures cost nothing and V's table is exactly
  what was published at V, whatever arrived later.
- ``OBS_STATUS`` is P (provisional) until ``close(period)``; a close is a vintage too,
  so reading an earlier vintage still says P. A figure revised after its close stays A.
- A vintage records the ingest watermarks it read at (checked unchanged before and
  after the read, so the figures match the watermarks even while a worker writes).
- The report of a vintage is rendered from its figures, never from the live views, and
  its SHA-256 is stored, so ``report --as-of V`` can prove it printed the same bytes.
- Revisions are explained from the ledger: each figure carries the part counted from
  adjustment rows (events later than the lateness limit). Between two vintages, the
  change splits into late events (the change of that part), on-time arrivals (the rest)
  and corrections (any decrease, or any change while the watermarks stood still:
  the ledger was repaired, not fed). Resends the worker dropped between the two
  vintages come from the watermarks' duplicate counts; they change no figure, which is
  the point, and are shown beside it.

Plan, then apply: ``plan_publication`` reads and computes; ``publish`` writes the plan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from zettaledger.sinks.client import Client, Reader
from zettaledger.sinks.dataflows import CONTEXT, DATAFLOWS, FigureKey, FigureValue, Period
from zettaledger.sinks.queries import CollectionFigures, LineageSummary, NationalAccounts
from zettaledger.sinks.vintages import (
    VintageError,
    VintageRow,
    Watermark,
    extract_figures,
    figure_history,
    figures_at,
    list_vintages,
    next_vintage_id,
    read_watermarks,
    vintage_watermarks,
    write_vintage,
)

__all__ = [
    "Publication",
    "RevisionRow",
    "Triangle",
    "accounts_at",
    "accounts_from_figures",
    "changed_figures",
    "close",
    "obs_status",
    "plan_publication",
    "publish",
    "render_triangle",
    "revisions",
]

Renderer = Callable[[NationalAccounts], str]


@dataclass(frozen=True)
class Publication:
    row: VintageRow
    changes: Mapping[FigureKey, FigureValue]
    watermarks: tuple[Watermark, ...]
    report: str | None  # the table printed with this vintage, if a renderer was given


def changed_figures(
    previous: Mapping[FigureKey, FigureValue], current: Mapping[FigureKey, FigureValue]
) -> dict[FigureKey, FigureValue]:
    """What a new vintage stores: figures that differ, and 0 for figures that are gone."""
    out = {k: v for k, v in current.items() if previous.get(k) != v}
    zero = FigureValue(0, 0)
    out.update({k: zero for k, v in previous.items() if k not in current and v != zero})
    return out


def _in(period: Period, key: FigureKey) -> bool:
    return key.dataflow == CONTEXT or period.holds(key.time_period)


def _consistent_read(
    client: Reader, database: str, period: Period, attempts: int
) -> tuple[dict[FigureKey, FigureValue], tuple[Watermark, ...]]:
    for _ in range(attempts):
        before = read_watermarks(client, database)
        figures = extract_figures(client, database, period)
        if read_watermarks(client, database) == before:
            return figures, before
    raise VintageError(
        f"the ledger moved during each of {attempts} reads of {period.label}; publish again (or when the worker is idle)"
    )


def plan_publication(
    client: Reader,
    database: str,
    period: Period | str,
    *,
    action: str = "publish",
    now: dt.datetime | None = None,
    render: Renderer | None = None,
    attempts: int = 5,
) -> Publication:
    """Read the period and the latest vintage and compute the new vintage; nothing is written."""
    period = Period.parse(period) if isinstance(period, str) else period
    current, marks = _consistent_read(client, database, period, attempts)
    vintages = list_vintages(client, database)
    latest = vintages[-1].vintage_id if vintages else 0
    state = {k: v for k, (v, _) in figures_at(client, database, latest).items()} if latest else {}
    changes = changed_figures({k: v for k, v in state.items() if _in(period, k)}, current)
    closed = action == "close" or any(v.action == "close" and v.period.covers(period) for v in vintages)
    now = now or dt.datetime.now(dt.UTC)
    report = None
    if render is not None:
        state.update(changes)
        report = render(accounts_from_figures(state))
    row = VintageRow(
        vintage_id=next_vintage_id(client, database),
        period=period,
        published_at=now.astimezone(dt.UTC).replace(microsecond=now.microsecond // 1000 * 1000),  # DateTime64(3)
        action=action,
        obs_status="A" if closed else "P",
        figures_changed=len(changes),
        report_sha256=hashlib.sha256(report.encode()).hexdigest() if report is not None else "",
    )
    return Publication(row, changes, marks, report)


def publish(client: Client, database: str, period: Period | str, **options: object) -> Publication:
    """``zl publish --period``: freeze the period's figures into a new vintage."""
    plan = plan_publication(client, database, period, **options)  # type: ignore[arg-type]
    write_vintage(client, database, plan.row, plan.changes, plan.watermarks)
    return plan


def close(client: Client, database: str, period: Period | str, **options: object) -> Publication:
    """``zl close --period``: a final vintage; the period's figures are A (normal) from it on."""
    return publish(client, database, period, action="close", **options)


def obs_status(day_iso: str, vintages: Iterable[VintageRow], at: int) -> str:
    """P, or A once a close at or before vintage ``at`` covers the day."""
    return "A" if any(v.action == "close" and v.vintage_id <= at and v.period.holds(day_iso) for v in vintages) else "P"


def accounts_from_figures(figures: Mapping[FigureKey, FigureValue]) -> NationalAccounts:
    """The report's input rebuilt from a vintage's figures (the figures themselves, never the live views)."""
    created: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    tokens: dict[dt.date, int] = defaultdict(int)
    hq = [0, 0]
    pipelines: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    context: dict[str, int] = defaultdict(int)
    rejections: dict[str, int] = {}
    for k, v in figures.items():
        if k.reporter:
            continue
        if k.dataflow == "DATA_CREATED" and k.indicator in ("BYTES", "RECORDS"):
            created[(int(k.time_period[:4]), k.series[1])][k.indicator == "RECORDS"] += v.value
        elif k.dataflow == "TOKENS":
            tokens[dt.date.fromisoformat(k.time_period)] += v.value
        elif k.dataflow == "HQ_DATASETS":
            hq[k.indicator == "BYTES"] += v.value
        elif k.dataflow == "COLLECTION":
            pipelines[k.series[1]][k.indicator] += v.value
        elif k.dataflow == CONTEXT and k.indicator == "REJECTED":
            rejections[k.series[0]] = v.value
        elif k.dataflow == CONTEXT:
            context[k.indicator] = v.value
    return NationalAccounts(
        created={key: (b, r) for key, (b, r) in created.items()},
        tokens_by_day=dict(tokens),
        high_quality_datasets=hq[0],
        high_quality_bytes=hq[1],
        registered_datasets=context["REGISTERED_DATASETS"],
        collection=[
            CollectionFigures(
                pid,
                p["RUNS"],
                p["ATTEMPTED_CAPTURES"],
                p["USABLE_CAPTURES"],
                p["ATTEMPTED_BYTES"],
                p["USABLE_BYTES"],
            )
            for pid, p in sorted(pipelines.items())
        ],
        lineage=LineageSummary(
            edges=context["LINEAGE_EDGES"],
            derived_datasets=context["LINEAGE_DERIVED_DATASETS"],
            root_datasets=context["LINEAGE_ROOT_DATASETS"],
            max_depth=context["LINEAGE_MAX_DEPTH"],
            derived_bytes=context["LINEAGE_DERIVED_BYTES"],
        ),
        events_counted=context["EVENTS_COUNTED"],
        duplicates_dropped=context["DUPLICATES_DROPPED"],
        dead_lettered=context["DEAD_LETTERED"],
        flushes=context["FLUSHES"],
        rejections=rejections,
    )


def accounts_at(client: Reader, database: str, vintage_id: int) -> NationalAccounts:
    """``zl report --as-of V``: the accounts exactly as vintage V published them."""
    if vintage_id not in {v.vintage_id for v in list_vintages(client, database)}:
        raise VintageError(f"no vintage {vintage_id}: `zl revisions --period P` lists the vintages of a period")
    return accounts_from_figures({k: v for k, (v, _) in figures_at(client, database, vintage_id).items()})


# --- revisions -------------------------------------------------------------------


@dataclass(frozen=True)
class RevisionRow:
    """One cell of the triangle: a figure (summed over the period's days) at one vintage."""

    dataflow: str
    series: tuple[str, ...]
    indicator: str
    vintage_id: int
    value: int
    change: int  # against the previous vintage of the period (the whole value at the first)
    late: int  # part of the change from late events (adjustment rows)
    on_time: int  # part from events that arrived in time after the previous vintage
    correction: int  # the rest: decreases, or changes while ingest stood still


@dataclass(frozen=True)
class Triangle:
    period: Period
    vintages: tuple[VintageRow, ...]
    rows: tuple[RevisionRow, ...]
    resends_dropped: Mapping[int, int] = field(default_factory=dict)  # vintage -> resent events dropped since the previous one

    def revisions(self) -> list[RevisionRow]:
        """The cells that changed after the first vintage: the revisions proper."""
        first = self.vintages[0].vintage_id if self.vintages else 0
        return [r for r in self.rows if r.vintage_id != first and r.change]


def revisions(client: Reader, database: str, period: Period | str) -> Triangle:
    """``zl revisions --period``: every national figure of the period, at every vintage that covered it."""
    period = Period.parse(period) if isinstance(period, str) else period
    columns = tuple(v for v in list_vintages(client, database) if v.period.first <= period.last and period.first <= v.period.last)
    if not columns:
        return Triangle(period, (), ())
    history = figure_history(client, database, columns[-1].vintage_id, period.first, period.last, DATAFLOWS)
    marks = {v.vintage_id: vintage_watermarks(client, database, v.vintage_id) for v in columns}
    by_vintage: dict[int, list[tuple[FigureKey, FigureValue]]] = defaultdict(list)
    for key, value, vid in history:
        if not key.reporter:
            by_vintage[vid].append((key, value))
    state: dict[FigureKey, FigureValue] = {}
    totals: dict[tuple[str, tuple[str, ...], str], list[int]] = defaultdict(lambda: [0, 0])
    rows: list[RevisionRow] = []
    resends: dict[int, int] = {}
    previous: VintageRow | None = None
    pending: set[tuple[str, tuple[str, ...], str]] = set()
    shown: dict[tuple[str, tuple[str, ...], str], list[int]] = {}
    column_ids = {v.vintage_id for v in columns}
    for vid in sorted(set(by_vintage) | column_ids):
        for key, value in by_vintage.get(vid, []):
            old = state.get(key, FigureValue(0, 0))
            state[key] = value
            agg = (key.dataflow, key.series, key.indicator)
            totals[agg][0] += value.value - old.value
            totals[agg][1] += value.late - old.late
            pending.add(agg)
        if vid not in column_ids:
            continue  # a vintage of another period that touched none of these days: folded into the next column
        column = next(v for v in columns if v.vintage_id == vid)
        moved = previous is None or _committed(marks[previous.vintage_id]) != _committed(marks[vid])
        if previous is not None:
            resends[vid] = sum(w.duplicates for w in marks[vid]) - sum(w.duplicates for w in marks[previous.vintage_id])
        for agg in sorted(pending):
            total, late = totals[agg]
            before = shown.get(agg, [0, 0])
            change, late_change = total - before[0], late - before[1]
            if previous is None:
                rows.append(RevisionRow(*agg, vid, total, change, late_change, change - late_change, 0))
            elif not moved:
                rows.append(RevisionRow(*agg, vid, total, change, 0, 0, change))
            else:
                on_time = change - late_change
                correction = min(late_change, 0) + min(on_time, 0)
                rows.append(RevisionRow(*agg, vid, total, change, max(late_change, 0), max(on_time, 0), correction))
            shown[agg] = [total, late]
        pending.clear()
        previous = column
    return Triangle(period, columns, tuple(rows), resends)


def _committed(marks: Iterable[Watermark]) -> dict[tuple[str, int], int]:
    return {(w.topic, w.kafka_partition): w.committed_through for w in marks}


def render_triangle(triangle: Triangle, only_revised: bool = False) -> str:
    """The triangle as text: one line per figure, one column per vintage, then the revisions with their causes."""
    ids = [v.vintage_id for v in triangle.vintages]
    out = [
        f"Revisions of {triangle.period.label}: vintages "
        + ", ".join(f"{v.vintage_id} ({v.action} {v.published_at:%Y-%m-%d %H:%M:%S}Z, {v.obs_status})" for v in triangle.vintages)
    ]
    values: dict[tuple[str, tuple[str, ...], str], dict[int, int]] = defaultdict(dict)
    for r in triangle.rows:
        values[(r.dataflow, r.series, r.indicator)][r.vintage_id] = r.value
    revised = {(r.dataflow, r.series, r.indicator) for r in triangle.revisions()}
    out.append("figure".ljust(60) + "".join(f"{'v' + str(i):>28}" for i in ids))
    for agg in sorted(values):
        if only_revised and agg not in revised:
            continue
        last = None
        cells = []
        for i in ids:
            last = values[agg].get(i, last)
            cells.append(f"{'' if last is None else last:>28}")
        out.append(f"{agg[0]}:{'.'.join(agg[1])}:{agg[2]}"[:60].ljust(60) + "".join(cells))
    out.append("")
    out.append("revisions (change = late events + on-time arrivals + corrections):")
    for r in triangle.revisions():
        out.append(
            f"  v{r.vintage_id} {r.dataflow}:{'.'.join(r.series)}:{r.indicator} {r.change:+} = late {r.late:+} + on-time {r.on_time:+} + corrections {r.correction:+}"
        )
    for vid, n in sorted(triangle.resends_dropped.items()):
        out.append(f"  v{vid}: {n:,} resent events dropped since the previous vintage (no figure changed by them)")
    return "\n".join(out) + "\n"
