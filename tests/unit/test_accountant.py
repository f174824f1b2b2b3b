"""The arithmetic of a flush: exact sums, resends once, replays skipped, bad events dead-lettered."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.samples import SAMPLES, T_2025_01_01, batch_of
from zettaledger.schemas import EventCodec
from zettaledger.sinks.ledger import COLUMN_NAMES
from zettaledger.streams.accountant import Accountant, FlushPlan, Message
from zettaledger.streams.dedup import DedupWindow

CODEC = EventCodec()
NOW_MS = 1_795_000_000_000


def accountant() -> Accountant:
    return Accountant(CODEC, DedupWindow(86_400, 1_000_000), clock_ms=lambda: NOW_MS)


def created(bytes_: int, **changes: Any) -> dict[str, Any]:
    return {**SAMPLES["DataCreated"], "event_id": str(uuid.uuid4()), "bytes": bytes_, **changes}


def _new_region() -> str:
    """A valid region code no test has used: the validator has not learnt it yet."""
    return "ZZ-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=3))


def rows_of(plan: FlushPlan, kind: str) -> list[dict[str, Any]]:
    return [dict(zip(COLUMN_NAMES, r, strict=True)) for r in plan.flush.rows if r[0] == kind]


def test_sums_pass_two_to_the_64_exactly() -> None:
    events = [created(2**63 - 1) for _ in range(5)]
    plan = accountant().account([Message("t", 0, i, CODEC.encode("DataCreated", e)) for i, e in enumerate(events)])
    (volume,) = rows_of(plan, "volume")
    assert volume["bytes"] == 5 * (2**63 - 1) > 2**64
    assert volume["events"] == 5


def test_an_event_resent_in_another_message_is_counted_once() -> None:
    event = created(10)
    plan = accountant().account(
        [
            Message("t", 0, 0, CODEC.encode("DataCreated", event)),
            Message("t", 0, 1, CODEC.encode("DataCreated", event)),
            Message("t", 0, 2, CODEC.encode("EventBatch", batch_of([("DataCreated", event)]))),
        ]
    )
    assert rows_of(plan, "volume")[0]["bytes"] == 10
    (segment,) = rows_of(plan, "segment")
    assert (segment["events"], segment["duplicates"], segment["offset_from"], segment["offset_to"]) == (1, 2, 0, 2)


def test_offsets_already_in_the_ledger_are_skipped() -> None:
    a = accountant()
    first = a.account([Message("t", 0, 0, CODEC.encode("DataCreated", created(7)))])
    a.committed(first)
    again = a.account(
        [Message("t", 0, 0, CODEC.encode("DataCreated", created(7))), Message("t", 0, 1, CODEC.encode("DataCreated", created(3)))]
    )
    assert again.stats.replayed_messages == 1
    assert rows_of(again, "volume")[0]["bytes"] == 3


def test_one_bad_event_in_a_batch_is_dead_lettered_alone_with_its_reason() -> None:
    good, bad = created(5), created(-1)
    plan = accountant().account(
        [Message("t", 3, 9, CODEC.encode("EventBatch", batch_of([("DataCreated", good), ("DataCreated", bad)])))]
    )
    assert rows_of(plan, "volume")[0]["bytes"] == 5
    (letter,) = plan.dead_letters
    assert (letter.field, letter.value, letter.reason, letter.batch_index) == ("bytes", "-1", "must be >= 0", 1)
    assert CODEC.decode(letter.payload).datum["event_id"] == bad["event_id"]
    headers = dict(letter.headers())
    assert headers["zl.source.offset"] == b"9" and headers["zl.error.field"] == b"bytes"


def test_undecodable_bytes_are_dead_lettered_and_the_offset_still_advances() -> None:
    plan = accountant().account([Message("t", 0, 4, b"\x00garbage")])
    assert plan.dead_letters[0].error == "not_single_object"
    assert plan.watermarks == {("t", 0): 4}
    assert rows_of(plan, "rejected")[0]["events"] == 1


def test_registrations_lineage_tokens_and_collection_become_rows() -> None:
    batch = batch_of(list(SAMPLES.items()))
    plan = accountant().account([Message("t", 1, 0, CODEC.encode("EventBatch", batch))])
    assert rows_of(plan, "dataset")[0]["quality_grade"] == "HIGH"
    edges = {(r["parent_id"], r["dataset_id"]) for r in rows_of(plan, "lineage")}
    assert edges == {("ds-parent", "ds-child")}
    assert rows_of(plan, "tokens")[0]["input_tokens"] == 700
    assert rows_of(plan, "collection")[0]["usable_captures"] == 95
    assert plan.stats.events == 4


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=1, max_size=40),
    cut=st.integers(min_value=1, max_value=40),
    days=st.lists(st.integers(min_value=0, max_value=3), min_size=40, max_size=40),
)
def test_cells_sum_to_the_events_however_messages_are_split_into_flushes(sizes: list[int], cut: int, days: list[int]) -> None:
    events = [created(b, event_time=T_2025_01_01 + days[i] * 86_400_000) for i, b in enumerate(sizes)]
    messages = [Message("t", 0, i, CODEC.encode("DataCreated", e)) for i, e in enumerate(events)]
    a = accountant()
    by_day: dict[int, int] = {}
    for start in range(0, len(messages), cut):
        plan = a.account(messages[start : start + cut])
        a.committed(plan)
        for row in rows_of(plan, "volume"):
            by_day[row["day"]] = by_day.get(row["day"], 0) + row["bytes"]
    expected: dict[int, int] = {}
    for e in events:
        expected[e["event_time"] // 86_400_000] = expected.get(e["event_time"] // 86_400_000, 0) + e["bytes"]
    assert by_day == {d: b for d, b in expected.items()}


def test_an_event_beyond_the_lateness_limit_counts_in_its_own_day_as_an_adjustment() -> None:
    a = Accountant(CODEC, DedupWindow(86_400, 1000), clock_ms=lambda: NOW_MS, lateness_ms=48 * 3_600_000)
    on_time = created(10, event_time=T_2025_01_01 + 10 * 86_400_000)
    a.committed(a.account([Message("t", 0, 0, CODEC.encode("DataCreated", on_time))]))
    slightly_late = created(20, event_time=T_2025_01_01 + 9 * 86_400_000)
    very_late = created(30, event_time=T_2025_01_01 + 5 * 86_400_000)
    plan = a.account(
        [
            Message("t", 0, 1, CODEC.encode("DataCreated", slightly_late)),
            Message("t", 0, 2, CODEC.encode("DataCreated", very_late)),
        ]
    )
    volume = {(r["day"], r["adjustment"]): r["bytes"] for r in rows_of(plan, "volume")}
    day0 = T_2025_01_01 // 86_400_000
    assert volume == {(day0 + 9, 0): 20, (day0 + 5, 1): 30}
    assert plan.stats.late == 1


def test_events_arriving_in_one_batch_are_not_late_to_each_other() -> None:
    a = accountant()
    early, later = created(1, event_time=T_2025_01_01), created(2, event_time=T_2025_01_01 + 10 * 86_400_000)
    plan = a.account([Message("t", 0, 0, CODEC.encode("EventBatch", batch_of([("DataCreated", later), ("DataCreated", early)])))])
    assert plan.stats.late == 0


def _counted(plans: list[FlushPlan]) -> tuple[dict[tuple[str, str, str], int], tuple[int, ...], list[tuple[str, str, str]]]:
    """What plans counted: bytes per volume and lineage cell, the figures, and the dead letters' field and reason."""
    totals: dict[tuple[str, str, str], int] = {}
    for plan in plans:
        for r in rows_of(plan, "volume") + rows_of(plan, "lineage"):
            key = (r["kind"], r["region"] or r["parent_id"], r["dataset_id"])
            totals[key] = totals.get(key, 0) + r["bytes"]
    figures = tuple(sum(getattr(p.stats, f) for p in plans) for f in ("events", "duplicates", "rejected", "late", "bytes"))
    letters = [(d.field, d.value, d.reason) for p in plans for d in p.dead_letters]
    return totals, figures, letters


def test_the_batch_fast_path_counts_exactly_what_the_per_event_path_counts() -> None:
    shared = created(50)
    events = [
        created(1),
        created(-3),  # rejected
        shared,
        dict(shared),  # a resend inside the batch
        created(2, region=_new_region()),  # a region not seen before is checked in full, then counted
        created(4, parent_dataset_ids=["ds-child"]),  # self-parent: rejected
        created(8, parent_dataset_ids=["p1", "p2"]),
    ]
    batched = accountant().account(
        [Message("t", 0, 0, CODEC.encode("EventBatch", batch_of([("DataCreated", e) for e in events])))]
    )
    ways: dict[str, list[FlushPlan]] = {"one batch": [batched], "one-event batches": [], "single events": []}
    for way in ("one-event batches", "single events"):
        a = accountant()
        for i, e in enumerate(events):
            value = (
                CODEC.encode("EventBatch", batch_of([("DataCreated", e)]))
                if way == "one-event batches"
                else CODEC.encode("DataCreated", e)
            )
            plan = a.account([Message("t", 0, i, value)])
            a.committed(plan)
            ways[way].append(plan)
    counted = {way: _counted(plans) for way, plans in ways.items()}
    assert counted["one batch"] == counted["one-event batches"] == counted["single events"]
    _, (n, duplicates, rejected, _, _), letters = counted["one batch"]
    assert (n, duplicates, rejected) == (4, 1, 2)
    assert letters == [
        ("bytes", "-3", "must be >= 0"),
        ("parent_dataset_ids", "'ds-child'", "a dataset cannot derive from itself"),
    ]
    assert len(batched.flush.seen[2]) == len(batched.flush.seen[0]) == 4

