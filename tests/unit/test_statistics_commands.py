"""The statistician's commands: the privileged switch for unsuppressed figures, the rules from settings, TSV escaping."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest

from zettaledger.settings import Settings
from zettaledger.sinks.client import SinkError
from zettaledger.statistics.commands import DisclosureDenied, _tsv, rules_from, unsuppressed_allowed
from zettaledger.statistics.disclosure import Rules


class _Client:
    def __init__(self, refuse: int | None) -> None:
        self.refuse = refuse
        self.asked: list[str] = []

    def query(self, query: str, parameters: Any = None, settings: Any = None) -> Any:
        self.asked.append(query)
        if self.refuse is not None:
            raise SinkError(f"Code: {self.refuse}.", self.refuse)  # as the driver or the worker's endpoint reports it
        return None


def test_unsuppressed_needs_the_switch_and_a_user_that_reads_the_ledger() -> None:
    with pytest.raises(DisclosureDenied, match="ZL_DISCLOSURE_UNSUPPRESSED_OK=true"):
        unsuppressed_allowed(Settings(), _Client(refuse=None), "zettaledger")
    privileged = Settings(disclosure_unsuppressed_ok=True)
    with pytest.raises(DisclosureDenied, match=r"read zettaledger\.ledger"):
        unsuppressed_allowed(privileged, _Client(refuse=497), "zettaledger")  # ACCESS_DENIED: the reader role
    with pytest.raises(SinkError, match="code 81") as other:  # a missing database is not a question of rights
        unsuppressed_allowed(privileged, _Client(refuse=81), "zettaledger")
    assert not isinstance(other.value, DisclosureDenied)
    client = _Client(refuse=None)
    unsuppressed_allowed(privileged, client, "zettaledger")
    assert client.asked == ["SELECT count() FROM `zettaledger`.`ledger` WHERE 0"]


def test_rules_come_from_the_settings_exactly() -> None:
    assert rules_from(Settings()) == Rules(3, 2, Fraction(85))
    assert rules_from(Settings(disclosure_dominance_k=70.1)).dominance_k == Fraction(701, 10)  # not the float's binary value


def test_tsv_escapes_what_a_producer_could_send() -> None:
    assert _tsv("a\tb\nc\\d\x1b[31m") == "a\\tb\\nc\\\\d\\x1b[31m"
    assert _tsv(None) == "\\N"
    assert _tsv(10**24) == "1000000000000000000000000"
    assert _tsv(dt.datetime(2025, 1, 1, 9, 30)) == "2025-01-01 09:30:00"
