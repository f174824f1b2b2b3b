"""The one way a name reaches SQL: checked against a plain ASCII rule, then backquoted.

Rule: an identifier is ``[A-Za-z_][A-Za-z0-9_]{0,63}``, ASCII only, 1 to 64
characters. That covers every database, table, view and cluster name Zettaledger
uses, leaves nothing to escape inside the backquotes, and makes a hostile name
(``x`;DROP``, a newline, a non-ASCII look-alike) an error instead of SQL.
Every SQL builder in ``sinks`` calls ``quote_identifier`` (or ``qualified``);
none formats a name into SQL by itself. Pure: no ClickHouse import.
"""

from __future__ import annotations

from zettaledger.errors import ZettaledgerError
from zettaledger.settings import SQL_IDENTIFIER

__all__ = ["IDENTIFIER_RULE", "InvalidIdentifier", "check_identifier", "qualified", "quote_identifier"]

IDENTIFIER_RULE = SQL_IDENTIFIER  # one rule: settings validate with it at start-up, every SQL builder here


class InvalidIdentifier(ZettaledgerError, ValueError):
    """A database, table or cluster name that is not a plain ASCII identifier."""


def check_identifier(name: str) -> str:
    """``name`` unchanged when it follows the rule; raises ``InvalidIdentifier`` otherwise."""
    if not isinstance(name, str) or IDENTIFIER_RULE.fullmatch(name) is None:
        raise InvalidIdentifier(
            f"identifier {name!r} is not allowed in SQL: use 1 to 64 ASCII letters, digits and _, "
            "not starting with a digit (check ZL_CLICKHOUSE_DATABASE and ZL_CLICKHOUSE_CLUSTER)"
        )
    return name


def quote_identifier(name: str) -> str:
    """```name``` for SQL, after ``check_identifier``."""
    return f"`{check_identifier(name)}`"


def qualified(database: str, name: str) -> str:
    """```database`.`name``` for SQL, both parts checked."""
    return f"{quote_identifier(database)}.{quote_identifier(name)}"
