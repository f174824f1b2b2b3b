"""Rollups: SummingMergeTree tables fed by materialised views on the ledger.

The national report reads thousands of rollup rows instead of one ledger row per
flush cell. Each rollup is declared once, as a ``Rollup``; its table, its
materialised view, the statisticians' views that read it, the check against the
ledger and the rebuild are all rendered from that declaration.

Materialised views are written in the same insert as the ledger but not atomically
with it: a process killed between the two parts can leave a rollup short of a
flush the ledger holds. The ledger is the truth; ``check`` finds any difference
and ``rebuild`` recomputes the rollups from it (run it with no worker writing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zettaledger.sinks.engines import on_cluster, table_engine
from zettaledger.sinks.identifiers import check_identifier, qualified, quote_identifier
from zettaledger.sinks.ledger import Kind

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = ["ROLLUPS", "Rollup", "RollupView", "check", "rebuild", "rollup_statements"]

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
    sums: tuple[tuple[str, str], ...]  # (column, ClickHouse type), summed by the engine
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

    def select(self, database: str) -> str:
        """The rollup's rows computed from the ledger (the materialised view's query)."""
        keys = ", ".join(self.key_names)
        sums = ", ".join(f"sum({c}) AS {c}" for c in self.sum_names)
        return (
            f"SELECT {keys}, {sums} FROM {quote_identifier(database)}.{_LEDGER} WHERE kind = '{self.kind.value}' GROUP BY {keys}"
        )

    def table(self, database: str, cluster: str | None = None) -> str:
        columns = ", ".join(f"{c} {t}" for c, t in self.keys + self.sums)
        return (
            f"CREATE TABLE IF NOT EXISTS {qualified(database, self.name)}{on_cluster(cluster)} ({columns}) "
            f"ENGINE = {table_engine(self.name, database, cluster, 'SummingMergeTree')} ORDER BY ({', '.join(self.key_names)})"
        )

    def rebuild(self, database: str, cluster: str | None = None) -> tuple[str, str]:
        """TRUNCATE then INSERT from the ledger: run again after an interruption, it rebuilds, never doubles."""
        return (
            f"TRUNCATE TABLE IF EXISTS {qualified(database, self.name)}{on_cluster(cluster)}",
            f"INSERT INTO {qualified(database, self.name)} {self.select(database)}",
        )

    def materialized_view(self, database: str, cluster: str | None = None) -> str:
        return (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {qualified(database, 'mv_' + self.name)}{on_cluster(cluster)} "
            f"TO {qualified(database, self.name)} AS {self.select(database)}"
        )

    def reader_views(self, database: str, cluster: str | None = None) -> tuple[str, ...]:
        rollup = f"{quote_identifier(database)}.{self.name}"
        return tuple(
            f"CREATE OR REPLACE VIEW {qualified(database, v.name)}{on_cluster(cluster)} AS {v.select.format(rollup=rollup).strip()}"
            for v in self.views
        )

    def check(self, database: str) -> str:
        """Days where the rollup's sums differ from the ledger's: (day, rollup sums, ledger sums), 10 at most."""
        sums = ", ".join(f"sum({c})" for c in self.sum_names)
        return (
            f"SELECT day, r, l FROM (SELECT day, ({sums}) AS r FROM {qualified(database, self.name)} GROUP BY day) AS a "
            f"FULL OUTER JOIN (SELECT day, ({sums}) AS l FROM {qualified(database, _LEDGER)} "
            f"WHERE kind = '{self.kind.value}' GROUP BY day) AS b USING day "
            "WHERE r != l LIMIT 10"
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
)


def rollup_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """Tables, backfill from the ledger, then the views that keep them current and read them.

    Run before any worker writes (migrations run at worker start-up, before it
    consumes), so nothing is inserted between the backfill and the view.
    """
    out: list[str] = []
    for rollup in ROLLUPS:
        out.extend(
            (rollup.table(database, cluster), *rollup.rebuild(database, cluster), rollup.materialized_view(database, cluster))
        )
    for rollup in ROLLUPS:
        out.extend(rollup.reader_views(database, cluster))
    return tuple(out)


def check(client: Client, database: str) -> list[str]:
    """Days where a rollup and the ledger disagree; empty when they agree."""
    problems: list[str] = []
    for rollup in ROLLUPS:
        sql = rollup.check(database)
        diff = client.query(sql).result_rows
        problems.extend(f"{rollup.name} {day}: rollup {r} != ledger {ledger}" for day, r, ledger in diff)
    return problems


def rebuild(client: Client, database: str) -> None:
    """Recompute every rollup from the ledger (run with no worker writing)."""
    for rollup in ROLLUPS:
        for sql in rollup.rebuild(database):
            client.command(sql)
