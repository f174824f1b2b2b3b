"""Failpoints: parsed and validated from ZL_FAILPOINTS by Settings, and fired by a wrapper
around the ledger writer at exactly the points the fault suite relies on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from zettaledger.errors import ConfigError
from zettaledger.failpoints import POINTS, Failpoints, FailpointSpecError
from zettaledger.settings import Settings
from zettaledger.sinks.client import Client, SinkUnavailable
from zettaledger.sinks.failpoint_store import FailpointStore
from zettaledger.sinks.ledger import COLUMNS, Flush, Kind
from zettaledger.sinks.store import clickhouse_store
from zettaledger.sinks.writer import LedgerConflict, LedgerWriter

_INDEX = {c.name: i for i, c in enumerate(COLUMNS)}


def _row(kind: Kind, **values: object) -> tuple[object, ...]:
    row = [c.default for c in COLUMNS]
    row[0] = kind.value
    for name, value in values.items():
        row[_INDEX[name]] = value
    return tuple(row)


def flush(offset: int, nbytes: int = 5) -> Flush:
    rows = [
        _row(Kind.VOLUME, day=20_000, source="AI", region="CN", events=1, bytes=nbytes, records=1),
        _row(Kind.SEGMENT, topic="t", kafka_partition=0, offset_from=offset, offset_to=offset, events=1),
    ]
    seen: list[list[object]] = [["t"], [0], [str(uuid.uuid4())], [offset], [0], [int(time.time())]]
    return Flush(f"t:0:{offset}", rows, seen, {("t", 0): offset})


def test_a_spec_is_parsed_into_points_and_actions() -> None:
    fp = Failpoints.parse(" after_ledger_insert=kill@3, ambiguous_ack=rate:0.1,sink_down=for:20,clock_offset=-3600,")
    assert fp.spec == {
        "after_ledger_insert": "kill@3",
        "ambiguous_ack": "rate:0.1",
        "sink_down": "for:20",
        "clock_offset": "-3600",
    }
    assert fp.clock_offset_ms() == -3_600_000
    assert Failpoints.parse("").spec == {}
    for example in ("after_ledger_insert=kill@3", "during_ledger_insert=kill@2", "between_inserts=kill@2", "after_commit=kill@3"):
        assert Failpoints.parse(example).spec  # the fault suite's specs
    assert set(POINTS) >= {"ambiguous_ack", "sink_down", "clock_offset"}


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("after_ledger_insrt=kill@3", "no such failpoint"),
        ("after_ledger_insert", "expected name=action"),
        ("after_ledger_insert=kill@0", "integer >= 1"),
        ("after_ledger_insert=kill@x", "integer >= 1"),
        ("sink_down=kill@3", "expected for:"),
        ("ambiguous_ack=rate:1.5", "probability"),
        ("sink_down=for:-1", "seconds >= 0"),
        ("clock_offset=soon", "seconds"),
        ("clock_offset=nan", "seconds"),
    ],
)
def test_a_bad_spec_is_refused(spec: str, complaint: str) -> None:
    with pytest.raises(FailpointSpecError, match=complaint):
        Failpoints.parse(spec)


def test_settings_report_a_bad_spec_naming_zl_failpoints() -> None:
    assert Settings.from_env({"ZL_FAILPOINTS": "ambiguous_ack=rate:0.1"}).failpoints == "ambiguous_ack=rate:0.1"
    with pytest.raises(
        ConfigError, match=r"ZL_FAILPOINTS='sink_down=kill@1, bogus=1'.*expected for:.*'bogus': no such failpoint"
    ):
        Settings.from_env({"ZL_FAILPOINTS": "sink_down=kill@1, bogus=1"})


def test_the_writer_is_wrapped_only_when_points_are_configured(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    assert type(clickhouse_store(client, "zl_fp")) is LedgerWriter
    assert type(clickhouse_store(client, "zl_fp", Failpoints.parse(""))) is LedgerWriter
    assert type(clickhouse_store(client, "zl_fp", Failpoints.parse("sink_down=for:1"))) is FailpointStore


class Recording(Failpoints):
    """Records each point as it fires, with what the ledger and seen_events hold at that moment."""

    def __init__(self, spec: str, client: Client) -> None:
        super().__init__(Failpoints.parse(spec).spec)
        self.client = client
        self.fired: list[tuple[str, int, int]] = []

    def _counts(self) -> tuple[int, int]:
        (seen,) = self.client.query("SELECT count() FROM zl_fp.seen_events").result_rows[0]
        (ledger,) = self.client.query("SELECT count() FROM zl_fp.ledger").result_rows[0]
        return int(seen), int(ledger)

    def hit(self, name: str) -> None:
        self.fired.append((name, *self._counts()))

    def fail_after_success(self, name: str) -> None:
        self.fired.append((name, *self._counts()))
        super().fail_after_success(name)

    def pause(self, name: str) -> None:
        self.fired.append((name, *self._counts()))
        super().pause(name)


def test_the_insert_points_fire_between_and_after_the_inserts(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    fp = Recording("ambiguous_ack=rate:0", client)
    store = FailpointStore(client, "zl_fp", fp)
    store.setup()
    assert fp.fired == []  # migrations insert into schema_migrations: no point fires
    store.write(flush(0))
    assert fp.fired == [
        ("before_insert", 0, 0),  # the overlap check passed, nothing inserted yet
        ("between_inserts", 1, 0),  # seen_events written, the ledger not yet
        ("during_ledger_insert", 1, 0),
        ("after_ledger_insert", 1, 2),
        ("ambiguous_ack", 1, 2),
    ]


def test_the_pause_holds_the_nth_write_past_its_check_never_an_insert_of_setup(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    # The zombie scenario pauses a worker's Nth write. When setup's inserts into schema_migrations
    # counted, each new migration moved the pause out of the writes and into a worker's start-up.
    client = open_chdb(tmp_path / "chdb")
    fp = Recording("before_insert=pause:0@2", client)
    store = FailpointStore(client, "zl_fp", fp)
    store.setup()
    store.write(flush(0))
    with pytest.raises(LedgerConflict):
        store.write(flush(0))  # refused by the overlap check: it inserts nothing, and is not counted
    store.write(flush(1))
    pauses = [(seen, ledger) for name, seen, ledger in fp.fired if name == "before_insert"]
    assert pauses == [(0, 0), (1, 2)]  # each before its write's first insert, none during setup
    assert fp.injected == {"before_insert": 1}  # the second write that passed its check


def test_an_ambiguous_ack_is_a_retryable_error_after_the_flush_landed(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    client = open_chdb(tmp_path / "chdb")
    fp = Failpoints.parse("ambiguous_ack=rate:1")
    store = FailpointStore(client, "zl_fp", fp)
    store.setup()
    with pytest.raises(SinkUnavailable, match="injected ambiguous acknowledgement") as raised:
        store.write(flush(0, nbytes=7))
    assert raised.value.retryable
    assert store.holds({("t", 0): 0})
    assert fp.injected == {"ambiguous_ack": 1}
    ((total,),) = client.query("SELECT sum(bytes) FROM zl_fp.ledger").result_rows
    assert total == 7


def test_sink_down_refuses_writes_before_anything_is_checked_or_written(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    client = open_chdb(tmp_path / "chdb")
    fp = Failpoints.parse("sink_down=for:3600")
    store = FailpointStore(client, "zl_fp", fp)
    store.setup()
    for offset in (0, 1):
        with pytest.raises(SinkUnavailable, match="injected outage") as raised:
            store.write(flush(offset))
        assert raised.value.retryable
    assert fp.injected == {"sink_down": 2}
    assert store.watermarks("t") == {}
    ((seen,),) = client.query("SELECT count() FROM zl_fp.seen_events").result_rows
    assert seen == 0


def test_the_writer_itself_has_no_test_hooks() -> None:
    source = (Path(__file__).resolve().parents[2] / "sinks" / "writer.py").read_text()
    assert "failpoint" not in source.lower()
