"""The three ClickHouse roles, and a worker that may not run DDL (ZL_MIGRATE=false)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from zettaledger.settings import Settings
from zettaledger.sinks.client import Client
from zettaledger.sinks.grants import ROLES, SchemaBehind, grant_statements, pending_migrations
from zettaledger.sinks.writer import LedgerWriter, migrate
from zettaledger.streams.startup import open_accountant


def test_the_roles_have_the_names_the_k8s_overlay_uses() -> None:
    overlay = (Path(__file__).resolve().parents[2] / "k8s/overlays/clickhouse/clickhouse.yaml").read_text()
    assert ROLES == ("zettaledger_ddl", "zettaledger_writer", "zettaledger_reader")
    assert all(f"<{role}>" in overlay for role in ROLES)


def test_the_writer_may_insert_and_select_the_ledger_tables_and_nothing_else() -> None:
    writer = [s for s in grant_statements("zl") if s.endswith("TO zettaledger_writer")]
    assert writer == [
        "GRANT INSERT, SELECT ON `zl`.`ledger` TO zettaledger_writer",
        "GRANT INSERT, SELECT ON `zl`.`seen_events` TO zettaledger_writer",
        "GRANT SELECT ON `zl`.`schema_migrations` TO zettaledger_writer",
    ]
    reader = [s for s in grant_statements("zl") if s.endswith("TO zettaledger_reader")]
    assert reader and all(s.startswith("GRANT SELECT ON `zl`.") for s in reader)
    assert not any("`ledger`" in s or "seen_events" in s for s in reader)
    assert "GRANT ON CLUSTER `c` CLUSTER ON *.* TO zettaledger_ddl" in grant_statements("zl", "c")


def test_a_worker_with_migrate_false_runs_no_ddl_and_names_what_it_needs(
    tmp_path: Path, open_chdb: Callable[[Path], Client]
) -> None:
    client = open_chdb(tmp_path / "chdb")
    settings = Settings.from_env({"ZL_MIGRATE": "false", "ZL_CLICKHOUSE_DATABASE": "zl_nomigrate"})
    with pytest.raises(SchemaBehind) as behind:
        open_accountant(LedgerWriter(client, "zl_nomigrate"), settings)
    assert behind.value.retryable  # the worker waits, unready, instead of exiting
    assert "lacks migrations 1 (ledger and seen-event tables)" in str(behind.value)
    assert "run `zl migrate` as the DDL role (zettaledger_ddl" in str(behind.value)
    databases = {r[0] for r in client.query("SELECT name FROM system.databases").result_rows}
    assert "zl_nomigrate" not in databases  # no DDL ran
    migrate(client, "zl_nomigrate")
    assert pending_migrations(client, "zl_nomigrate") == []
    open_accountant(LedgerWriter(client, "zl_nomigrate"), settings)  # current: starts
