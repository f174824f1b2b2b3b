"""ClickHouse roles, one per kind of user, and whether a database's schema is current (for ``ZL_MIGRATE=false``).

Three roles, with the names the Kubernetes overlay (``k8s/overlays/clickhouse``) gives its users:

- ``zettaledger_ddl``: everything on the database (``zl migrate``, the setup Job, ``zl rollups rebuild``,
  ``zl publish``/``zl close``), and ``CLUSTER`` for ``ON CLUSTER`` statements;
- ``zettaledger_writer``: the worker. ``INSERT, SELECT`` on ``ledger`` and ``seen_events`` (the rollups
  are projections of the ledger, written with it), ``SELECT`` on ``schema_migrations`` (to check the
  schema is current); nothing else: no CREATE, ALTER, TRUNCATE or DROP;
- ``zettaledger_reader``: statisticians. ``SELECT`` on the views and the vintages, not on the ledger's
  rows themselves. Where views run as their invoker (ClickHouse's default,
  ``default_normal_view_sql_security = INVOKER``) reading them also needs ``SELECT`` on the ledger; the
  Kubernetes overlay grants ``SELECT`` on the database for that reason, which is also the right
  ``zl report --unsuppressed`` checks for.

``grant_statements`` renders them (``zl grants`` prints them, ``zl migrate --grants`` applies them on a
server; chDB has no access control). ``pending_migrations`` says which steps a database lacks.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import SinkUnavailable, wrap
from zettaledger.sinks.ddl import VIEWS, Migration, migrations
from zettaledger.sinks.engines import on_cluster
from zettaledger.sinks.identifiers import qualified, quote_identifier
from zettaledger.sinks.rollups import ROLLUPS

__all__ = [
    "DDL_ROLE",
    "READER_ROLE",
    "ROLES",
    "WRITER_ROLE",
    "SchemaBehind",
    "grant_statements",
    "pending_migrations",
    "schema_behind",
]

DDL_ROLE = "zettaledger_ddl"
WRITER_ROLE = "zettaledger_writer"
READER_ROLE = "zettaledger_reader"
ROLES = (DDL_ROLE, WRITER_ROLE, READER_ROLE)

WRITER_GRANTS: dict[str, str] = {"ledger": "INSERT, SELECT", "seen_events": "INSERT, SELECT", "schema_migrations": "SELECT"}
VINTAGE_TABLES = ("vintages", "vintage_watermarks", "vintage_figures")


def reader_objects() -> tuple[str, ...]:
    """The views and tables statisticians read: the views of migration 2, the rollup views, the vintages."""
    names = [*VIEWS, *(v.name for r in ROLLUPS for v in r.views), *VINTAGE_TABLES]
    return tuple(dict.fromkeys(names))


def grant_statements(database: str, cluster: str | None = None) -> tuple[str, ...]:
    """CREATE ROLE and GRANT statements for the three roles on ``database`` (idempotent)."""
    on = on_cluster(cluster)
    out = [f"CREATE ROLE IF NOT EXISTS {role}{on}" for role in ROLES]
    out.append(f"GRANT{on} ALL ON {quote_identifier(database)}.* TO {DDL_ROLE}")
    if cluster:
        out.append(f"GRANT{on} CLUSTER ON *.* TO {DDL_ROLE}")
    out += [f"GRANT{on} {rights} ON {qualified(database, table)} TO {WRITER_ROLE}" for table, rights in WRITER_GRANTS.items()]
    out += [f"GRANT{on} SELECT ON {qualified(database, name)} TO {READER_ROLE}" for name in reader_objects()]
    return tuple(out)


class SchemaBehind(SinkUnavailable):
    """The database lacks migrations and this process may not apply them (``ZL_MIGRATE=false``); retried."""


def pending_migrations(
    client: Client, database: str, cluster: str | None = None, dedup_horizon_hours: int = 24
) -> list[Migration]:
    """The migration steps ``database`` has not applied (all of them when it has no ``schema_migrations``)."""
    steps = migrations(database, cluster, dedup_horizon_hours)
    try:
        done = {int(r[0]) for r in client.query(f"SELECT version FROM {qualified(database, 'schema_migrations')}").result_rows}
    except (DatabaseError, OperationalError) as exc:
        if wrap(exc, "").code in (60, 81):  # UNKNOWN_TABLE, UNKNOWN_DATABASE: nothing applied yet
            return steps
        raise wrap(exc, "reading schema_migrations") from exc
    return [step for step in steps if step.version not in done]


def schema_behind(database: str, pending: list[Migration]) -> SchemaBehind:
    versions = ", ".join(f"{m.version} ({m.description})" for m in pending)
    return SchemaBehind(
        f"ClickHouse database {database} lacks migrations {versions}; this worker runs with ZL_MIGRATE=false and "
        f"never runs DDL: run `zl migrate` as the DDL role ({DDL_ROLE}; in Kubernetes, the setup Job). "
        "The worker stays unready (/readyz 503) and checks again",
        retryable=True,
    )
