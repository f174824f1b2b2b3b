"""What one hostile message can make the worker do: bounded, and each cap a dead letter with its own code."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from tests.raw_enums import written_raw
from tests.unit.samples import SAMPLES, batch_of
from zettaledger.schemas import EventCodec
from zettaledger.schemas.codec import SchemaDecodeError
from zettaledger.schemas.validation import LIMITS, EventRejected, check, data_created_is_plain
from zettaledger.sinks.ledger import COLUMN_NAMES
from zettaledger.streams.accountant import Accountant, Caps, FlushPlan, Message
from zettaledger.streams.dead_letters import HEADER_MAX_BYTES, DeadLetter
from zettaledger.streams.dedup import DedupWindow

CODEC = EventCodec()
NOW_MS = 1_795_000_000_000
LATEST = NOW_MS + 86_400_000


def plan_of(values: list[bytes], caps: Caps | None = None) -> FlushPlan:
    accountant = Accountant(CODEC, DedupWindow(86_400, 1_000_000), clock_ms=lambda: NOW_MS, caps=caps)
    return accountant.account([Message("zl.events", 0, i, v) for i, v in enumerate(values)])


def created(**changes: Any) -> dict[str, Any]:
    return {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4()), **changes}


def codes(plan: FlushPlan) -> list[str]:
    return [dl.error for dl in plan.dead_letters]


def test_a_non_utf8_string_makes_a_short_reason_not_the_whole_string() -> None:
    """Before: the reason was repr(exc), and a 2.5 MB bad string made a 10 MB header."""
    good = CODEC.encode("DataCreated", created(producer_id="a" * 2_500_000))
    bad = good.replace(b"a" * 2_500_000, b"\xff" * 2_500_000)
    with pytest.raises(SchemaDecodeError) as refused:
        CODEC.decode(bad)
    assert refused.value.reason == "corrupt_body" and len(str(refused.value)) < 400
    (letter,) = plan_of([bad]).dead_letters
    value, headers = letter.wire(1024 * 1024)
    assert all(len(v) <= HEADER_MAX_BYTES for _, v in headers)
    assert len(value) == 1024 * 1024  # the value is cut ...
    shown = dict(headers)
    assert shown["zl.payload.sha256"] == hashlib.sha256(bad).hexdigest().encode()  # ... and says what the whole was
    assert shown["zl.payload.length"] == str(len(bad)).encode() and shown["zl.payload.truncated"] == b"true"
    assert shown["zl.source.offset"] == b"0"


def test_headers_are_capped_whatever_the_text() -> None:
    letter = DeadLetter("t", 0, 1, None, b"x", "DataCreated", "invalid_field", "f", "é" * 5000, "\ud800" * 10 + "r" * 5000)
    headers = dict(letter.headers())
    assert all(len(v) <= HEADER_MAX_BYTES for v in headers.values())
    headers["zl.error.value"].decode("utf-8")  # cut on a character boundary
    shrunk_value, shrunk = letter.shrink().wire(1 << 20)
    assert len(shrunk_value) <= 256 and sum(len(k) + len(v) for k, v in shrunk) < 2048


def test_too_many_parents_is_its_own_dead_letter_and_nothing_is_counted() -> None:
    """Before: one message with 10^6 parents became 1,000,002 ledger rows."""
    many = created(parent_dataset_ids=[f"p{i}" for i in range(LIMITS.max_parents + 1)])
    assert not data_created_is_plain(many, LATEST)
    with pytest.raises(EventRejected) as refused:
        check("DataCreated", many, LATEST)
    assert refused.value.code == "too_many_parents"
    plan = plan_of([CODEC.encode("DataCreated", many)])
    assert codes(plan) == ["too_many_parents"] and plan.stats.events == 0
    assert not [r for r in plan.flush.rows if r[0] == "lineage"]


@pytest.mark.parametrize("field", ["producer_id", "dataset_id", "organization"])
def test_ids_longer_than_the_cap_are_id_too_long(field: str) -> None:
    plan = plan_of([CODEC.encode("DataCreated", created(**{field: "x" * (LIMITS.max_id + 1)}))])
    assert codes(plan) == ["id_too_long"]


def test_a_registration_id_is_capped_too() -> None:
    """Before: a 3 MB registration_id was stored."""
    registered = {**SAMPLES["DatasetRegistered"], "registration_id": "R" * 3_000_000}
    plan = plan_of([CODEC.encode("DatasetRegistered", registered)])
    assert codes(plan) == ["id_too_long"] and plan.stats.events == 0


def test_a_batch_over_the_event_cap_is_one_dead_letter() -> None:
    batch = batch_of([("DataCreated", created()) for _ in range(11)])
    plan = plan_of([CODEC.encode("EventBatch", batch)], Caps(max_batch_events=10))
    assert codes(plan) == ["too_many_events"] and plan.stats.events == 0 and plan.stats.rejected == 1


def test_dead_letters_per_message_are_capped_and_the_rest_summarised_but_all_counted() -> None:
    """Before: a batch of 200k invalid events produced 200k dead letters."""
    batch = batch_of([("DataCreated", created(bytes=-1)) for _ in range(50)])
    plan = plan_of([CODEC.encode("EventBatch", batch)], Caps(max_dead_letters_per_message=5))
    assert codes(plan) == ["invalid_field"] * 5 + ["too_many_dead_letters"]
    assert plan.dead_letters[-1].value == "45"
    assert plan.stats.rejected == 50  # every rejected event is still counted as rejected in the ledger
    events = COLUMN_NAMES.index("events")
    assert sum(int(str(r[events])) for r in plan.flush.rows if r[0] == "rejected") == 50


def test_a_value_over_the_size_cap_is_value_too_large_and_never_decoded() -> None:
    value = CODEC.encode("DataCreated", created(organization="o" * 5000))
    plan = plan_of([value], Caps(max_message_bytes=4096))
    assert codes(plan) == ["value_too_large"]


@pytest.mark.parametrize(("field", "value"), [("region", "CN-GD\n"), ("event_id", "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c01\n")])
def test_a_trailing_newline_is_not_accepted(field: str, value: str) -> None:
    """Before: $ matched before a trailing newline: CN-GD\\n counted as its own region, an id + \\n as a new id."""
    e = created(**{field: value})
    assert not data_created_is_plain(e, LATEST)
    with pytest.raises(EventRejected):
        check("DataCreated", e, LATEST)


def test_an_enum_index_that_names_no_symbol_is_a_corrupt_body_dead_letter_and_nothing_is_counted() -> None:
    """Before: index -1 decoded as the last symbol, and the event was counted as INFERENCE."""
    value = written_raw("DataCreated", created(source=-1))
    plan = plan_of([value])
    (letter,) = plan.dead_letters
    assert (letter.error, letter.field, letter.payload) == ("corrupt_body", "<payload>", value)
    assert "field source holds enum index -1, out of range" in letter.reason
    assert plan.stats.events == 0 and plan.stats.rejected == 1
