"""Rollups: the report's pre-aggregated sums, as projections of the ledger itself.

The national report reads thousands of pre-summed rows instead of one ledger row
per flush cell. Each rollup is declared once, as a ``Rollup``; the projection,
the statisticians' views that use it, the check and the rebuild are rendered from
that declaration.

Why projections (migration 4), not the tables fed by materialised views of
migration 3: a projection is stored inside each data part of the ledger and
written in the same atomic step as the part, so an insert lands with its rollup
or not at all. A materialised view writes its own part after the ledger's, and a
worker killed between the two left the views short of a flush the ledger held
(seen after `kill -9` during ingest). A part without its projection (written
before the projection existed, or before ``MATERIALIZE PROJECTION`` reached it)
is read from its rows, so the views are exact in every state. ``check`` compares
the projection-backed answer with a read of the rows; ``rebuild`` materialises
the projections again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zettaledger.sinks.engines import on_cluster, table_engine
from zettaledger.sinks.identifiers import check_identifier, qualified, quote_identifier
from zettaledger.sinks.ledger import Kind

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = ["ROLLUPS", "Rollup", "RollupView", "check", "legacy_rollup_statements", "projection_statements", "rebuild"]

_LEDGER = "ledger"


@dataclass(frozen=True)
class RollupView:
    """A statisticians' view that reads a rollup; ``select`` names the rollup as ``{rollup}``."""

    name: str
    select: str


@dataclass(frozen=True)
class Rollup:
    """Sums of ``sums`` over ledger rows of ``kind``, grouped by ``keys`` (which include ``day``)."""

    name: str
    kind: Kind
    keys: tuple[tuple[str, str], ...]  # (column, ClickHouse type)
    sums: tuple[tuple[str, str], ...]  # (column, ClickHouse type)
    views: tuple[RollupView, ...] = ()

    def __post_init__(self) -> None:
        for column in (self.name, *(c for c, _ in self.keys + self.sums), *(v.name for v in self.views)):
            check_identifier(column)
        if "day" not in self.key_names:
            raise ValueError(f"rollup {self.name}: the check compares days, so 'day' must be a key")

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.keys)

    @property
    def sum_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.sums)

    def _rows(self, database: str) -> str:
        return f"{qualified(database, _LEDGER)} WHERE kind = '{self.kind.value}'"

    # -- projections (migration 4 on) --------------------------------------------------

    def add_projection(self, database: str, cluster: str | None = None) -> str:
        # kind is a key, not a filter: a projection has no WHERE, and the other kinds add a few rows a part.
        keys = ", ".join(("kind", *self.key_names))
        sums = ", ".join(f"sum({c})" for c in self.sum_names)
        return (
            f"ALTER TABLE {qualified(database, _LEDGER)}{on_cluster(cluster)} ADD PROJECTION IF NOT EXISTS "
            f"{quote_identifier(self.name)} (SELECT {keys}, {sums} GROUP BY {keys})"
        )

    def drop_projection(self, database: str, cluster: str | None = None) -> str:
        """Needed before altering a column the projection uses (``kind``, a key); add and materialise it after."""
        return (
            f"ALTER TABLE {qualified(database, _LEDGER)}{on_cluster(cluster)} DROP PROJECTION IF EXISTS "
            f"{quote_identifier(self.name)}"
        )

    def materialize(self, database: str, cluster: str | None = None) -> str:
        """Build the projection for parts written before it existed; waits until done (idempotent)."""
        return (
            f"ALTER TABLE {qualified(database, _LEDGER)}{on_cluster(cluster)} MATERIALIZE PROJECTION "
            f"{quote_identifier(self.name)} SETTINGS mutations_sync = 2"
        )

    def reader_views(self, database: str, cluster: str | None = None) -> tuple[str, ...]:
        return tuple(
            f"CREATE OR REPLACE VIEW {qualified(database, v.name)}{on_cluster(cluster)} AS "
            f"{v.select.format(rollup=self._rows(database)).strip()}"
            for v in self.views
        )

    def daily(self, database: str, use_projection: bool) -> str:
        """Sums per day; ``use_projection`` forces the projection, or forbids it to read the rows."""
        sums = ", ".join(f"sum({c})" for c in self.sum_names)
        setting = "force_optimize_projection = 1" if use_projection else "optimize_use_projections = 0"
        return f"SELECT day, ({sums}) FROM {self._rows(database)} GROUP BY day ORDER BY day SETTINGS {setting}"

    # -- released in migration 3 (a table fed by a materialised view): rendered only for that step and its removal

    def _legacy_select(self, database: str) -> str:
        keys = ", ".join(self.key_names)
        sums = ", ".join(f"sum({c}) AS {c}" for c in self.sum_names)
        return (
            f"SELECT {keys}, {sums} FROM {quote_identifier(database)}.{_LEDGER} WHERE kind = '{self.kind.value}' GROUP BY {keys}"
        )

    def legacy_statements(self, database: str, cluster: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(table, backfill and materialised view), (reader views): migration 3 renders all tables first."""
        columns = ", ".join(f"{c} {t}" for c, t in self.keys + self.sums)
        table = qualified(database, self.name)
        on = on_cluster(cluster)
        rollup = f"{quote_identifier(database)}.{self.name}"
        return (
            f"CREATE TABLE IF NOT EXISTS {table}{on} ({columns}) "
            f"ENGINE = {table_engine(self.name, database, cluster, 'SummingMergeTree')} ORDER BY ({', '.join(self.key_names)})",
            f"TRUNCATE TABLE IF EXISTS {table}{on}",
            f"INSERT INTO {table} {self._legacy_select(database)}",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {qualified(database, 'mv_' + self.name)}{on} "
            f"TO {table} AS {self._legacy_select(database)}",
        ), tuple(
            f"CREATE OR REPLACE VIEW {qualified(database, v.name)}{on} AS {v.select.format(rollup=rollup).strip()}"
            for v in self.views
        )

    def drop_legacy(self, database: str, cluster: str | None = None) -> tuple[str, str]:
        on = on_cluster(cluster)
        return (
            f"DROP VIEW IF EXISTS {qualified(database, 'mv_' + self.name)}{on}",
            f"DROP TABLE IF EXISTS {qualified(database, self.name)}{on}",
        )


_LC = "LowCardinality(String)"

ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "rollup_created_daily",
        Kind.VOLUME,
        keys=(("day", "Date"), ("source", _LC), ("region", _LC)),
        sums=(("events", "UInt64"), ("bytes", "UInt256"), ("records", "UInt256")),
        views=(
            RollupView(
                "data_created_by_year",
                """
        SELECT toYear(day) AS year, source, sum(bytes) AS bytes, sum(records) AS records, sum(events) AS events
        FROM {rollup} GROUP BY year, source""",
            ),
            RollupView(
                "data_created_daily",
                """
        SELECT day, source, region, sum(bytes) AS bytes, sum(records) AS records, sum(events) AS events
        FROM {rollup} GROUP BY day, source, region""",
            ),
        ),
    ),
    Rollup(
        "rollup_tokens_daily",
        Kind.TOKENS,
        keys=(("day", "Date"), ("model", _LC), ("provider", _LC), ("region", _LC)),
        sums=(("events", "UInt64"), ("input_tokens", "UInt256"), ("output_tokens", "UInt256")),
        views=(
            RollupView(
                "tokens_daily",
                """
        SELECT day, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               input_tokens + output_tokens AS tokens, sum(events) AS events
        FROM {rollup} GROUP BY day""",
            ),
            RollupView(
                "tokens_by_model_daily",
                """
        SELECT day, model, provider, region, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               input_tokens + output_tokens AS tokens
        FROM {rollup} GROUP BY day, model, provider, region""",
            ),
        ),
    ),
    # Migration 9: data created by derivation, so the report's derived bytes and the lineage
    # accounts read thousands of rows, not every volume row of the ledger.
    Rollup(
        "rollup_created_by_derivation",
        Kind.VOLUME,
        keys=(("day", "Date"), ("source", _LC), ("region", _LC), ("derivation", _LC)),
        sums=(("events", "UInt64"), ("bytes", "UInt256"), ("records", "UInt256")),
    ),
)
_RELEASED_IN_3_AND_4 = ROLLUPS[:2]  # what migrations 3 and 4 rendered, and must go on rendering


def legacy_rollup_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Migration 3 as released: SummingMergeTree tables, backfilled, fed by materialised views."""
    out: list[str] = []
    rendered = [rollup.legacy_statements(database, cluster) for rollup in _RELEASED_IN_3_AND_4]
    for tables, _ in rendered:
        out.extend(tables)
    for _, views in rendered:
        out.extend(views)
    return tuple(out)


def projection_statements(
    database: str, cluster: str | None = None, rollups: tuple[Rollup, ...] = _RELEASED_IN_3_AND_4
) -> tuple[str, ...]:
    """Migration 4 (and each later rollup's own step): projections in the ledger, the views
    read the ledger, any table a released step had made for them dropped.

    Every statement is idempotent, so a step interrupted half-way runs again safely;
    the views switch only once the projections hold every part.
    """
    out: list[str] = []
    for rollup in rollups:
        out.extend((rollup.add_projection(database, cluster), rollup.materialize(database, cluster)))
    for rollup in rollups:
        out.extend(rollup.reader_views(database, cluster))
    for rollup in rollups:
        if rollup in _RELEASED_IN_3_AND_4:
            out.extend(rollup.drop_legacy(database, cluster))
    return tuple(out)


def check(client: Client, database: str) -> list[str]:
    """Days where a rollup's projection and the ledger's rows disagree; empty when they agree."""
    check_identifier(database)
    problems: list[str] = []
    for rollup in ROLLUPS:
        projected: dict[Any, Any] = {r[0]: r[1] for r in client.query(rollup.daily(database, use_projection=True)).result_rows}
        counted: dict[Any, Any] = {r[0]: r[1] for r in client.query(rollup.daily(database, use_projection=False)).result_rows}
        for day in sorted(set(projected) | set(counted)):
            if projected.get(day) != counted.get(day):
                problems.append(f"{rollup.name} {day}: projection {projected.get(day)} != ledger {counted.get(day)}")
    return problems


def rebuild(client: Client, database: str) -> None:
    """Materialise every rollup's projection again from the ledger's rows (safe while workers write)."""
    check_identifier(database)
    for rollup in ROLLUPS:
        client.command(rollup.materialize(database))
