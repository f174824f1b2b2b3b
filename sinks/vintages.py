"""Vintages: what was published when, stored so any published table can be read back exactly.

Tables (MergeTree, Replicated on a cluster; values UInt256; nothing ever updated in place), created
by migration 6 (``vintage_statements``):

- ``vintages``: one row per publication: id, period, time, action (publish|close),
  OBS_STATUS of the period at that vintage, and the SHA-256 of the report it printed.
- ``vintage_watermarks``: the ingest progress (committed offset, events, duplicates,
  dead letters per topic-partition) the vintage's figures were read at.
- ``vintage_figures``: the figures that *changed* in that vintage (a figure that
  disappeared is stored as 0). Reading vintage V = the latest row per figure key with
  ``vintage_id <= V``. The key includes ``reporter`` for the confidential per-producer
  contributions disclosure control needs; ``reporter = ''`` is the figure itself.

A vintage exists once its ``vintages`` row exists: figures and watermarks are written
first and every read joins on ``vintages``, so a publication interrupted half-way is
invisible, and the next one takes a higher id than any orphan row.

Reporters need ``producer_id`` on the ledger's volume rows (migration 5, ``reporters_statement``).
Rows written before the worker filled it hold ``''``, and a ledger without the column at all
(not yet migrated) has none: either way those contributions are read as one unknown reporter
(``?``), which suppresses their cells (the safe reading of "we do not know who reported").
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import Reader, SinkError, wrap
from zettaledger.sinks.dataflows import CONTEXT, FigureKey, FigureValue, Period, decode_series, encode_series
from zettaledger.sinks.engines import on_cluster, table_engine
from zettaledger.sinks.identifiers import qualified, quote_identifier
from zettaledger.sinks.ledger import COLUMNS
from zettaledger.sinks.queries import NationalAccounts, read_national_accounts

__all__ = [
    "CONTEXT_INDICATORS",
    "UNKNOWN_REPORTER",
    "VintageError",
    "VintageRow",
    "Watermark",
    "context_figures",
    "extract_figures",
    "figure_history",
    "figures_at",
    "list_vintages",
    "next_vintage_id",
    "read_watermarks",
    "reporters_statement",
    "vintage_statements",
    "vintage_watermarks",
    "write_vintage",
]

UNKNOWN_REPORTER: Final = "?"  # ledger rows written before producer_id was recorded


def vintage_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """DDL of the vintage tables (idempotent): migration 6 in ``sinks.ddl``."""
    on = on_cluster(cluster)
    return (
        f"""CREATE TABLE IF NOT EXISTS {qualified(database, "vintages")}{on} (
    vintage_id UInt64,
    period String,
    period_first Date,
    period_last Date,
    published_at DateTime64(3, 'UTC'),
    action Enum8('publish' = 1, 'close' = 2),
    obs_status LowCardinality(String),
    figures_changed UInt64,
    report_sha256 String
) ENGINE = {table_engine("vintages", database, cluster)} ORDER BY vintage_id""",
        f"""CREATE TABLE IF NOT EXISTS {qualified(database, "vintage_watermarks")}{on} (
    vintage_id UInt64,
    topic LowCardinality(String),
    kafka_partition UInt32,
    committed_through UInt64,
    events UInt64,
    duplicates UInt64,
    rejected UInt64
) ENGINE = {table_engine("vintage_watermarks", database, cluster)} ORDER BY (vintage_id, topic, kafka_partition)""",
        f"""CREATE TABLE IF NOT EXISTS {qualified(database, "vintage_figures")}{on} (
    vintage_id UInt64,
    dataflow LowCardinality(String),
    time_period String,
    series String,
    indicator LowCardinality(String),
    reporter String,
    value UInt256,
    late UInt256
) ENGINE = {table_engine("vintage_figures", database, cluster)}
ORDER BY (dataflow, time_period, series, indicator, reporter, vintage_id)""",
    )


def reporters_statement(database: str, cluster: str | None = None) -> str:
    """The ledger change reporters need (migration 5 in ``sinks.ddl``): who reported each volume cell.

    Appended last, where ``sinks.ledger.COLUMNS`` declares it, so a migrated ledger and a fresh one agree.
    """
    (column,) = (c for c in COLUMNS if c.name == "producer_id")
    return (
        f"ALTER TABLE {qualified(database, 'ledger')}{on_cluster(cluster)} "
        f"ADD COLUMN IF NOT EXISTS {quote_identifier(column.name)} {column.sql_type} DEFAULT ''"
    )


@dataclass(frozen=True)
class Watermark:
    topic: str
    kafka_partition: int
    committed_through: int
    events: int
    duplicates: int
    rejected: int


@dataclass(frozen=True)
class VintageRow:
    vintage_id: int
    period: Period
    published_at: dt.datetime
    action: str  # publish | close
    obs_status: str  # P | A
    figures_changed: int
    report_sha256: str


def _rows(client: Reader, sql: str, database: str, **parameters: Any) -> list[tuple[Any, ...]]:
    try:
        return [
            tuple(r) for r in client.query(sql.replace("{db}", quote_identifier(database)), parameters=parameters).result_rows
        ]
    except (DatabaseError, OperationalError) as exc:
        raise wrap(exc, f"query {sql.strip().splitlines()[0][:80]!r}") from exc


_WATERMARK_COLUMNS = "topic, kafka_partition, committed_through, events, duplicates, rejected"


def _watermarks(rows: list[tuple[Any, ...]]) -> tuple[Watermark, ...]:
    return tuple(Watermark(str(t), int(p), int(o), int(e), int(d), int(r)) for t, p, o, e, d, r in rows)


def read_watermarks(client: Reader, database: str) -> tuple[Watermark, ...]:
    return _watermarks(
        _rows(client, f"SELECT {_WATERMARK_COLUMNS} FROM {{db}}.ingest_progress ORDER BY topic, kafka_partition", database)
    )


def _has_producer_id(client: Reader, database: str) -> bool:
    return bool(
        _rows(
            client,
            "SELECT 1 FROM system.columns WHERE database = {d:String} AND table = 'ledger' AND name = 'producer_id'",
            database,
            d=database,
        )
    )


Figures = dict[FigureKey, FigureValue]


def _add(out: Figures, key: FigureKey, value: int, late: int) -> None:
    old = out.get(key)
    out[key] = FigureValue(value + (old.value if old else 0), late + (old.late if old else 0))


def extract_figures(client: Reader, database: str, period: Period) -> Figures:
    """Every national figure of ``period``, per day, exact, with its late part; plus the CONTEXT snapshot."""
    params = {"first": period.first, "last": period.last}
    out: Figures = {}
    reporter = "if(producer_id = '', '?', producer_id)" if _has_producer_id(client, database) else f"'{UNKNOWN_REPORTER}'"
    for day, region, source, who, b, r, n, lb, lr, ln in _rows(
        client,
        f"""SELECT toString(day), region, source, {reporter} AS reporter,
               sum(bytes), sum(records), sum(events),
               sumIf(bytes, adjustment = 1), sumIf(records, adjustment = 1), sumIf(events, adjustment = 1)
        FROM {{db}}.ledger WHERE kind = 'volume' AND day BETWEEN {{first:Date}} AND {{last:Date}}
        GROUP BY day, region, source, reporter""",
        database,
        **params,
    ):
        series: tuple[str, ...] = (str(region), str(source))
        for indicator, value, late in (("BYTES", b, lb), ("RECORDS", r, lr), ("EVENTS", n, ln)):
            _add(out, FigureKey("DATA_CREATED", day, series, indicator), int(value), int(late))
        _add(out, FigureKey("DATA_CREATED", day, series, "BYTES", str(who)), int(b), int(lb))
    for day, region, model, provider, i, o, li, lo in _rows(
        client,
        """SELECT toString(day), region, model, provider, sum(input_tokens), sum(output_tokens),
               sumIf(input_tokens, adjustment = 1), sumIf(output_tokens, adjustment = 1)
        FROM {db}.ledger WHERE kind = 'tokens' AND day BETWEEN {first:Date} AND {last:Date}
        GROUP BY day, region, model, provider""",
        database,
        **params,
    ):
        series = (str(region), str(model), str(provider))
        _add(out, FigureKey("TOKENS", day, series, "INPUT_TOKENS"), int(i), int(li))
        _add(out, FigureKey("TOKENS", day, series, "OUTPUT_TOKENS"), int(o), int(lo))
    for day, region, n, b, ln, lb in _rows(
        client,
        # The register as datasets_current reads it (the latest registration wins),
        # dated by the first registration, so a dataset stays in the period it entered.
        """SELECT toString(first_day) AS d, region, count(), sum(bytes), countIf(late = 1), sumIf(bytes, late = 1)
        FROM (
            SELECT dataset_id, argMax(region, version) AS region, argMax(bytes, version) AS bytes,
                   argMax(quality_grade, version) AS grade, argMax(adjustment, version) AS late, min(day) AS first_day
            FROM (SELECT *, (event_time_ms, kafka_partition, offset_to) AS version FROM {db}.ledger WHERE kind = 'dataset')
            GROUP BY dataset_id)
        WHERE grade = 'HIGH' AND first_day BETWEEN {first:Date} AND {last:Date}
        GROUP BY first_day, region""",
        database,
        **params,
    ):
        _add(out, FigureKey("HQ_DATASETS", d := str(day), (str(region),), "DATASETS"), int(n), int(ln))
        _add(out, FigureKey("HQ_DATASETS", d, (str(region),), "BYTES"), int(b), int(lb))
    for day, region, pipeline, *sums in _rows(
        client,
        """SELECT toString(day), region, pipeline_id,
               sum(events), sum(attempted_captures), sum(usable_captures), sum(attempted_bytes), sum(usable_bytes),
               sumIf(events, adjustment = 1), sumIf(attempted_captures, adjustment = 1), sumIf(usable_captures, adjustment = 1),
               sumIf(attempted_bytes, adjustment = 1), sumIf(usable_bytes, adjustment = 1)
        FROM {db}.ledger WHERE kind = 'collection' AND day BETWEEN {first:Date} AND {last:Date}
        GROUP BY day, region, pipeline_id""",
        database,
        **params,
    ):
        names = ("RUNS", "ATTEMPTED_CAPTURES", "USABLE_CAPTURES", "ATTEMPTED_BYTES", "USABLE_BYTES")
        for j, indicator in enumerate(names):
            _add(out, FigureKey("COLLECTION", str(day), (str(region), str(pipeline)), indicator), int(sums[j]), int(sums[5 + j]))
    out.update(context_figures(read_national_accounts(client, database)))
    return out


CONTEXT_INDICATORS: Final = (
    "EVENTS_COUNTED",
    "DUPLICATES_DROPPED",
    "DEAD_LETTERED",
    "FLUSHES",
    "REGISTERED_DATASETS",
    "LINEAGE_EDGES",
    "LINEAGE_DERIVED_DATASETS",
    "LINEAGE_ROOT_DATASETS",
    "LINEAGE_MAX_DEPTH",
    "LINEAGE_DERIVED_BYTES",
)


def context_figures(accounts: NationalAccounts) -> Figures:
    """What the report prints beside the national figures, as CONTEXT figures (a snapshot of the ledger)."""
    lin = accounts.lineage
    values = (
        accounts.events_counted,
        accounts.duplicates_dropped,
        accounts.dead_lettered,
        accounts.flushes,
        accounts.registered_datasets,
        lin.edges,
        lin.derived_datasets,
        lin.root_datasets,
        lin.max_depth,
        lin.derived_bytes,
    )
    out: Figures = {FigureKey(CONTEXT, "", (), name): FigureValue(v) for name, v in zip(CONTEXT_INDICATORS, values, strict=True)}
    for reason, n in accounts.rejections.items():
        out[FigureKey(CONTEXT, "", (reason,), "REJECTED")] = FigureValue(n)
    return out


def next_vintage_id(client: Reader, database: str) -> int:
    """One above every id ever written, orphans of an interrupted publication included."""
    ((a,),) = _rows(client, "SELECT max(vintage_id) FROM {db}.vintages", database)
    ((b,),) = _rows(client, "SELECT max(vintage_id) FROM {db}.vintage_figures", database)
    return max(int(a), int(b)) + 1


def write_vintage(
    client: Client,
    database: str,
    row: VintageRow,
    changes: Mapping[FigureKey, FigureValue],
    watermarks: Sequence[Watermark],
) -> None:
    """Figures, then watermarks, then the row that makes the vintage exist."""
    token = (
        f"vintage-{row.vintage_id}-"
        + hashlib.sha256(f"{row.period.label}{row.published_at.isoformat()}".encode()).hexdigest()[:16]
    )
    try:
        if changes:
            client.insert(
                qualified(database, "vintage_figures"),
                [
                    [row.vintage_id, k.dataflow, k.time_period, encode_series(k.series), k.indicator, k.reporter, v.value, v.late]
                    for k, v in sorted(changes.items())
                ],
                column_names=["vintage_id", "dataflow", "time_period", "series", "indicator", "reporter", "value", "late"],
                settings={"insert_deduplication_token": token + "/figures"},
            )
        if watermarks:
            client.insert(
                qualified(database, "vintage_watermarks"),
                [
                    [row.vintage_id, w.topic, w.kafka_partition, w.committed_through, w.events, w.duplicates, w.rejected]
                    for w in watermarks
                ],
                column_names=["vintage_id", "topic", "kafka_partition", "committed_through", "events", "duplicates", "rejected"],
                settings={"insert_deduplication_token": token + "/watermarks"},
            )
        client.insert(
            qualified(database, "vintages"),
            [
                [
                    row.vintage_id,
                    row.period.label,
                    row.period.first,
                    row.period.last,
                    row.published_at,
                    row.action,
                    row.obs_status,
                    row.figures_changed,
                    row.report_sha256,
                ]
            ],
            column_names=[
                "vintage_id",
                "period",
                "period_first",
                "period_last",
                "published_at",
                "action",
                "obs_status",
                "figures_changed",
                "report_sha256",
            ],
            settings={"insert_deduplication_token": token + "/row"},
        )
    except (DatabaseError, OperationalError) as exc:
        raise wrap(exc, f"write of vintage {row.vintage_id}") from exc


def list_vintages(client: Reader, database: str) -> list[VintageRow]:
    out = []
    for vid, label, first, last, at, action, status, changed, sha in _rows(
        client,
        "SELECT vintage_id, period, period_first, period_last, published_at, action, obs_status, figures_changed, report_sha256 "
        "FROM {db}.vintages ORDER BY vintage_id",
        database,
    ):
        when = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        out.append(VintageRow(int(vid), Period(first, last, str(label)), when, str(action), str(status), int(changed), str(sha)))
    return out


def vintage_watermarks(client: Reader, database: str, vintage_id: int) -> tuple[Watermark, ...]:
    return _watermarks(
        _rows(
            client,
            f"SELECT {_WATERMARK_COLUMNS} FROM {{db}}.vintage_watermarks "
            "WHERE vintage_id = {v:UInt64} ORDER BY topic, kafka_partition",
            database,
            v=vintage_id,
        )
    )


_KEY = "dataflow, time_period, series, indicator, reporter"


def _where(first: dt.date | None, last: dt.date | None, dataflows: Iterable[str] | None) -> tuple[str, dict[str, Any]]:
    sql = " AND vintage_id <= {v:UInt64} AND vintage_id IN (SELECT vintage_id FROM {db}.vintages)"
    params: dict[str, Any] = {}
    if first is not None and last is not None:
        sql += f" AND (time_period BETWEEN {{first:String}} AND {{last:String}} OR dataflow = '{CONTEXT}')"
        params.update(first=first.isoformat(), last=last.isoformat())
    if dataflows is not None:
        sql += " AND dataflow IN {flows:Array(String)}"
        params["flows"] = list(dataflows)
    return sql, params


def figures_at(
    client: Reader,
    database: str,
    vintage_id: int,
    first: dt.date | None = None,
    last: dt.date | None = None,
    dataflows: Iterable[str] | None = None,
) -> dict[FigureKey, tuple[FigureValue, int]]:
    """Every figure as vintage ``vintage_id`` left it, with the vintage that last changed it."""
    where, params = _where(first, last, dataflows)
    out: dict[FigureKey, tuple[FigureValue, int]] = {}
    for flow, tp, series, ind, rep, value, late, changed in _rows(
        client,
        f"SELECT {_KEY}, argMax(value, vintage_id), argMax(late, vintage_id), max(vintage_id) "
        f"FROM {{db}}.vintage_figures WHERE 1 {where} GROUP BY {_KEY}",
        database,
        v=vintage_id,
        **params,
    ):
        out[FigureKey(str(flow), str(tp), decode_series(series), str(ind), str(rep))] = (
            FigureValue(int(value), int(late)),
            int(changed),
        )
    return out


def figure_history(
    client: Reader,
    database: str,
    vintage_id: int,
    first: dt.date | None = None,
    last: dt.date | None = None,
    dataflows: Iterable[str] | None = None,
) -> list[tuple[FigureKey, FigureValue, int]]:
    """Every stored change up to ``vintage_id``, oldest vintage first: what ``--include-history`` and revisions replay."""
    where, params = _where(first, last, dataflows)
    return [
        (FigureKey(str(flow), str(tp), decode_series(series), str(ind), str(rep)), FigureValue(int(value), int(late)), int(v))
        for flow, tp, series, ind, rep, value, late, v in _rows(
            client,
            f"SELECT {_KEY}, value, late, vintage_id FROM {{db}}.vintage_figures WHERE 1 {where} ORDER BY vintage_id, {_KEY}",
            database,
            v=vintage_id,
            **params,
        )
    ]


class VintageError(SinkError):
    """A vintage could not be published or read consistently."""
