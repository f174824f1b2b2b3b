"""Every name that reaches SQL goes through one rule and one quoting helper."""

from __future__ import annotations

from typing import cast

import pytest

from zettaledger.errors import ZettaledgerError
from zettaledger.sinks import rollups
from zettaledger.sinks.client import Client
from zettaledger.sinks.ddl import bootstrap, migrations
from zettaledger.sinks.identifiers import InvalidIdentifier, check_identifier, qualified, quote_identifier
from zettaledger.sinks.queries import read_national_accounts
from zettaledger.sinks.remote import RemoteLedger
from zettaledger.sinks.writer import LedgerWriter, migrate

HOSTILE = [
    "x`;DROP",
    "x`.`y",
    "zl; DROP DATABASE zl",
    "",
    "1zl",
    "zl-prod",
    "zl prod",
    "zl\n",
    "db.table",
    "zettaledgér",  # non-ASCII letter
    "\uff5a\uff4c",  # fullwidth look-alikes of "zl"
    "a" * 65,
    "x'",
    'x"',
    "x\\",
]


@pytest.mark.parametrize("name", ["zl", "zettaledger", "zl_unit", "_x", "Z9", "a" * 64])
def test_plain_ascii_identifiers_are_backquoted(name: str) -> None:
    assert check_identifier(name) == name
    assert quote_identifier(name) == f"`{name}`"
    assert qualified(name, "ledger") == f"`{name}`.`ledger`"


@pytest.mark.parametrize("name", HOSTILE)
def test_anything_else_is_refused_with_an_error_a_caller_can_catch(name: str) -> None:
    with pytest.raises(InvalidIdentifier, match="ASCII letters, digits and _") as refused:
        quote_identifier(name)
    assert isinstance(refused.value, ZettaledgerError)
    with pytest.raises(InvalidIdentifier):
        qualified("zl", name)


@pytest.mark.parametrize("name", ["x`;DROP", "zettaledgér"])
def test_every_sql_builder_refuses_a_hostile_database_before_any_sql(name: str) -> None:
    no_client = cast(Client, None)  # never reached: the name is refused first
    for build in (
        lambda: migrations(name),
        lambda: migrations("zl", cluster=name),
        lambda: bootstrap(name),
        lambda: rollups.projection_statements(name),
        lambda: rollups.legacy_rollup_statements(name),
        lambda: rollups.check(no_client, name),
        lambda: rollups.rebuild(no_client, name),
        lambda: read_national_accounts(no_client, name),
        lambda: LedgerWriter(no_client, name),
        lambda: migrate(no_client, name),
        lambda: RemoteLedger("http://127.0.0.1:1", name),
    ):
        with pytest.raises(InvalidIdentifier):
            build()


@pytest.mark.parametrize("name", ["x`;DROP", "zettaledgér", "zl\n"])
def test_the_lineage_builders_refuse_a_hostile_name_too(name: str) -> None:
    from zettaledger.sinks.lineage import lineage_statements
    from zettaledger.sinks.lineage_graph import ClickHouseGraph

    for build in (
        lambda: lineage_statements(name),
        lambda: lineage_statements("zl", cluster=name),
        lambda: ClickHouseGraph(cast(Client, None), name),
    ):
        with pytest.raises(InvalidIdentifier):
            build()


def test_no_sql_builder_backquotes_a_name_by_itself() -> None:
    """Every name reaches SQL through sinks.identifiers: no f-string puts a value between backquotes elsewhere."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"(?<!`)`\{(?!\{)")  # `{name} in an f-string (``{{`` is a literal brace, ``{ a docstring)
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for folder in ("sinks", "streams", "zettaledger", "zettaledger/statistics")
        for path in sorted((root / folder).glob("*.py"))
        if path.name != "identifiers.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
