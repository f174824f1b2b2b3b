"""docs/contract.md says what the code does: the fingerprint table, error codes, headers and examples are checked here."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from tests.unit.samples import SAMPLES, T_2025_01_01, batch_of
from zettaledger.schemas import EventCodec
from zettaledger.schemas.contract import current_block, generated_block
from zettaledger.schemas.fingerprints import SPEC, header_hex
from zettaledger.schemas.registry import AVRO_DIR
from zettaledger.sinks.ledger import COLUMN_NAMES
from zettaledger.streams.accountant import Accountant, DeadLetter, FlushPlan, Message
from zettaledger.streams.dedup import DedupWindow

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
CODEC = EventCodec()
NOW_MS = 1_795_000_000_000
DAY_MS = 86_400_000


def _section(title: str) -> str:
    text = CONTRACT.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def _first_column(section: str, header: str) -> list[str]:
    """The back-quoted first cells of the markdown table whose header row starts with ``header``."""
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header}"))
    cells = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells.append(line.split("|")[1].strip().strip("`"))
    return cells


def test_the_published_fingerprint_table_is_what_the_schema_files_give() -> None:
    assert current_block(CONTRACT) == generated_block(), (
        "docs/contract.md's fingerprint table is stale: run `python -m zettaledger.schemas.contract --write docs/contract.md`"
    )


def test_the_refused_batch_fingerprint_the_contract_quotes_is_the_one_the_files_give() -> None:
    as_written = json.loads((AVRO_DIR / "EventBatch.avsc").read_text())
    assert f"`{header_hex(SPEC.fingerprint(as_written))}`" in _section("Framing")


def _accountant() -> Accountant:
    return Accountant(CODEC, DedupWindow(86_400, 1_000_000), clock_ms=lambda: NOW_MS, lateness_ms=48 * 3_600_000)


def _rows(plan: FlushPlan, kind: str) -> list[dict[str, Any]]:
    return [dict(zip(COLUMN_NAMES, r, strict=True)) for r in plan.flush.rows if r[0] == kind]


def _created(name: str, day: int) -> dict[str, Any]:
    """A DataCreated on 2025-01-01 + ``day`` whose ``records`` field carries its name (A=1, B=2, C=3)."""
    event_id = str(uuid.uuid5(uuid.NAMESPACE_OID, name))
    return {**SAMPLES["DataCreated"], "event_id": event_id, "event_time": T_2025_01_01 + day * DAY_MS, "records": ord(name) - 64}


def _flagged(messages: list[list[str]]) -> set[str]:
    events = {"A": _created("A", 0), "B": _created("B", 9), "C": _created("C", 1)}
    payloads = [
        CODEC.encode("DataCreated", events[m[0]])
        if len(m) == 1
        else CODEC.encode("EventBatch", batch_of([("DataCreated", events[n]) for n in m]))
        for m in messages
    ]
    a = _accountant()
    flagged: set[str] = set()
    for offset, payload in enumerate(payloads):  # one flush per message: the rule does not depend on flushes
        plan = a.account([Message("t", 0, offset, payload)])
        a.committed(plan)
        flagged |= {chr(64 + row["records"]) for row in _rows(plan, "volume") if row["adjustment"] == 1}
    return flagged


def test_the_lateness_example_flags_what_the_contract_says() -> None:
    """The table in 'Late events': A on day 0, B on day 9, C on day 1, ZL_LATENESS_HOURS=48."""
    assert _flagged([["A", "B", "C"]]) == set()
    assert _flagged([["A", "B"], ["C"]]) == {"C"}
    assert _flagged([["A"], ["B"], ["C"]]) == {"C"}
    assert _flagged([["A"], ["C"], ["B"]]) == set()


def _dead_letters(*values: bytes | None) -> list[DeadLetter]:
    return _accountant().account([Message("t", 0, i, v) for i, v in enumerate(values)]).dead_letters


def test_every_error_code_the_contract_lists_is_one_the_worker_gives_and_no_other() -> None:
    good = CODEC.encode("DataCreated", SAMPLES["DataCreated"])
    letters = _dead_letters(
        None,
        b"{}",
        b"\xc3\x01" + b"\x00" * 8 + b"\x02",
        good[:20],
        good + b"\x00",
        CODEC.encode("DataCreated", {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4()), "producer_id": ""}),
    )
    assert [d.error for d in letters] == [
        "empty",
        "not_single_object",
        "unknown_schema",
        "corrupt_body",
        "corrupt_body",
        "invalid_field",
    ]
    assert set(_first_column(_section("Errors and dead letters"), "`zl.error.code`")) == {d.error for d in letters}
    assert letters[-1].field == "producer_id"
    assert {d.event_type for d in letters[:5]} == {"unknown"}


def test_the_headers_the_contract_lists_are_the_ones_a_dead_letter_carries() -> None:
    batch = batch_of(
        [
            ("DataCreated", {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4())}),
            ("DataCreated", {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4())}),
            ("TokenUsage", {**SAMPLES["TokenUsage"], "event_id": str(uuid.uuid4()), "region": "nowhere"}),
        ]
    )
    (letter,) = _dead_letters(CODEC.encode("EventBatch", batch))
    headers = dict(letter.headers())
    assert set(_first_column(_section("Errors and dead letters"), "header")) == set(headers)
    assert headers["zl.source.batch_index"] == b"2"  # counted across the arrays in schema order
    assert headers["zl.event.type"] == b"TokenUsage"
    assert CODEC.decode(letter.payload).name == "TokenUsage"  # the event alone, re-encoded


def test_an_empty_batch_is_a_no_op_whose_offset_is_recorded() -> None:
    plan = _accountant().account([Message("t", 3, 41, CODEC.encode("EventBatch", batch_of([])))])
    assert plan.dead_letters == []
    assert plan.stats.events == 0
    (segment,) = _rows(plan, "segment")
    assert (segment["kafka_partition"], segment["offset_from"], segment["offset_to"], segment["events"]) == (3, 41, 41, 0)


def test_event_ids_compare_without_regard_to_case() -> None:
    event = {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4())}
    upper = {**event, "event_id": event["event_id"].upper()}
    plan = _accountant().account(
        [Message("t", 0, 0, CODEC.encode("DataCreated", event)), Message("t", 0, 1, CODEC.encode("DataCreated", upper))]
    )
    assert (plan.stats.events, plan.stats.duplicates) == (1, 1)


def test_the_contract_states_the_message_limit_the_topics_are_created_with() -> None:
    from zettaledger.producers.topics import topic_specs
    from zettaledger.settings import Settings

    limits = {int(t.topic_configs["max.message.bytes"]) for t in topic_specs(Settings())}
    assert limits == {8 * 1024 * 1024}
    assert re.search(r"8 MiB per message\*\* \(8,388,608 bytes", _section("Limits"))
