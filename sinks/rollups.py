"""Checks the rollups against the ledger, and rebuilds them from it.

Materialised views are written in the same insert as the ledger but not atomically
with it: a process killed between the two parts can leave a rollup short of a
flush the ledger holds. The ledger is the truth; ``check`` finds any difference
and ``rebuild`` recomputes the rollups from the ledger (run it with no worker writing).
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from zettaledger.sinks.ddl import ROLLUPS

__all__ = ["check", "rebuild"]

_TOTALS = {
    "rollup_created_daily": ("sum(events), sum(bytes), sum(records)", "kind = 'volume'"),
    "rollup_tokens_daily": ("sum(events), sum(input_tokens), sum(output_tokens)", "kind = 'tokens'"),
}


def check(client: Client, database: str) -> list[str]:
    """Days where a rollup and the ledger disagree; empty when they agree."""
    problems: list[str] = []
    for name, (sums, where) in _TOTALS.items():
        diff = client.query(
            f"SELECT day, r, l FROM (SELECT day, ({sums}) AS r FROM `{database}`.{name} GROUP BY day) AS a "
            f"FULL OUTER JOIN (SELECT day, ({sums}) AS l FROM `{database}`.ledger WHERE {where} GROUP BY day) AS b USING day "
            "WHERE r != l LIMIT 10"
        ).result_rows
        problems.extend(f"{name} {day}: rollup {r} != ledger {ledger}" for day, r, ledger in diff)
    return problems


def rebuild(client: Client, database: str) -> None:
    for name, (_, _, select) in ROLLUPS.items():
        client.command(f"TRUNCATE TABLE `{database}`.{name}")
        client.command(f"INSERT INTO `{database}`.{name} {select.format(db=f'`{database}`')}")
