"""Retryable or fatal is decided from the driver's typed error code, never from message text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError

from zettaledger.sinks.client import RETRYABLE_ERRORS, Client, SinkError, SinkUnavailable, error_code, is_retryable, wrap


def test_the_named_retryable_codes_are_clickhouses_own(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    for name, code in RETRYABLE_ERRORS.items():
        assert client.query(f"SELECT errorCodeToName({code})").result_rows[0][0] == name


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (
            DatabaseError("busy", code=RETRYABLE_ERRORS["TOO_MANY_SIMULTANEOUS_QUERIES"], name="TOO_MANY_SIMULTANEOUS_QUERIES"),
            True,
        ),
        (DatabaseError("slow", code=RETRYABLE_ERRORS["TIMEOUT_EXCEEDED"]), True),
        (DatabaseError("generic message, name only", name="NETWORK_ERROR"), True),
        (DatabaseError("Code: 62. DB::Exception: Syntax error", code=62, name="SYNTAX_ERROR"), False),
        (ProgrammingError("Code: 159. looks retryable in text only"), False),  # text is never parsed
        (RuntimeError("Code: 159. chDB engine error without a typed code"), False),
        (OperationalError("connection reset"), True),  # a transport fault, with or without a code
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (SinkUnavailable("down", retryable=True), True),
        (SinkError("bad", code=159, retryable=False), False),  # already decided
    ],
)
def test_classification(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable
    if not isinstance(exc, SinkError):
        wrapped = wrap(exc, "insert of flush t")
        assert wrapped.retryable is retryable
        assert wrapped.code == error_code(exc)
        assert isinstance(wrapped, SinkUnavailable) is isinstance(exc, (OperationalError, ConnectionError, TimeoutError))


def test_a_real_chdb_error_carries_its_code_and_name(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    with pytest.raises(DatabaseError) as raised:
        client.command("SELEC 1")
    assert error_code(raised.value) == 62
    wrapped = wrap(raised.value, "statement 'SELEC 1'")
    assert (wrapped.code, wrapped.retryable) == (62, False)
    assert "(code 62 SYNTAX_ERROR)" in str(wrapped)
