"""The arithmetic of a flush: exact sums, resends once, replays skipped, bad events dead-lettered."""

from __future__ import annotations

import random
import string
import uuid
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.samples import SAMPLES, T_2025_01_01, batch_of
from tests.unit.test_validation import data_created
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


DAY = 86_400_000


def _dc(e: dict[str, Any]) -> bytes:
    return CODEC.encode("DataCreated", e)


def _batch(*events: dict[str, Any]) -> bytes:
    return CODEC.encode("EventBatch", batch_of([("DataCreated", e) for e in events]))


def test_an_event_that_took_the_full_check_still_moves_stream_time() -> None:
    # Bug: the batch loop's own latest event time overwrote what the full-check path had
    # recorded, so a batch whose latest event had a new region left stream time at day 0.
    a = accountant()
    early = created(1, event_time=T_2025_01_01)
    latest = created(2, event_time=T_2025_01_01 + 30 * DAY, region=_new_region())  # a new region: checked in full
    plan = a.account([Message("t", 0, 0, _batch(early, latest))])
    (segment,) = rows_of(plan, "segment")
    assert segment["event_time_ms"] == T_2025_01_01 + 30 * DAY
    a.committed(plan)
    three_days_behind = a.account([Message("t", 0, 1, _dc(created(3, event_time=T_2025_01_01 + 27 * DAY)))])
    assert three_days_behind.stats.late == 1


def test_planning_the_same_messages_again_gives_the_same_plan() -> None:
    # Bug: planning moved stream times, so a re-plan after a LedgerConflict flagged
    # events that were on time in the first plan as late (late 0, then late 1).
    first_event = created(1, event_time=T_2025_01_01 + 5 * DAY)
    messages = [
        Message("t", 0, 0, _dc(first_event)),
        Message("t", 0, 1, _dc(created(2, event_time=T_2025_01_01 + 10 * DAY))),
        Message("t", 0, 2, _batch(first_event, created(-1))),  # a resend and a bad event
        Message("t", 1, 0, b"junk"),
    ]
    a = accountant()
    first = a.account(messages)
    again = a.account(messages)
    assert (first.stats.late, first.stats.duplicates, first.stats.rejected) == (0, 1, 2)
    assert again == first  # the same rows, flags, seen ids, dead letters and effects


def test_a_plan_not_committed_leaves_the_accountant_as_it_was() -> None:
    resent = created(5, event_time=T_2025_01_01 + 10 * DAY)
    a = accountant()
    a.account([Message("t", 0, 0, _dc(resent)), Message("t", 0, 1, _dc(created(6)))])
    assert (a.watermarks, len(a.dedup)) == ({}, 0)
    later = [Message("t", 0, 0, _dc(created(7, event_time=T_2025_01_01))), Message("t", 0, 9, _dc(resent))]
    assert a.account(later) == accountant().account(later)  # offset 0 counts, the resend counts, nothing is late


@st.composite
def _stream(draw: st.DrawFn) -> tuple[list[Message], int]:
    """Messages on two partitions with resends (ids from a small pool), late events, bad events and replays; a cut."""
    pool = [str(uuid.UUID(int=i + 1, version=4)) for i in range(6)]
    messages: list[Message] = []
    offsets = [0, 0]
    for _ in range(draw(st.integers(1, 12))):
        partition = draw(st.integers(0, 1))
        events = [
            created(
                draw(st.sampled_from([1, 2, -1])),
                event_id=draw(st.sampled_from(pool)),
                event_time=T_2025_01_01 + draw(st.integers(0, 6)) * DAY,
            )
            for _ in range(draw(st.integers(1, 3)))
        ]
        value = _batch(*events) if len(events) > 1 or draw(st.booleans()) else _dc(events[0])
        offset = offsets[partition] - draw(st.sampled_from([0, 0, 0, 1]))  # now and then a message again
        messages.append(Message("t", partition, max(offset, 0), value))
        offsets[partition] = max(offset, 0) + 1
    return messages, draw(st.integers(0, len(messages)))


@settings(max_examples=60, deadline=None)
@given(_stream())
def test_a_plan_made_after_an_uncommitted_plan_sees_it_as_if_committed(stream: tuple[list[Message], int]) -> None:
    messages, cut = stream
    first_slice, second_slice = messages[:cut], messages[cut:]
    in_turn = accountant()
    first = in_turn.account(first_slice)
    in_turn.committed(first)
    second = in_turn.account(second_slice)
    in_turn.committed(second)

    pipelined = accountant()
    p1 = pipelined.account(first_slice)
    p2 = pipelined.account(second_slice, after=p1)  # p1 is still being written
    assert (pipelined.watermarks, len(pipelined.dedup)) == ({}, 0)
    assert (p1, p2) == (first, second)
    pipelined.committed(p1)
    pipelined.committed(p2)
    assert (pipelined.watermarks, len(pipelined.dedup)) == (in_turn.watermarks, len(in_turn.dedup))
    replayed = [Message(m.topic, m.partition, m.offset + 100, m.value) for m in messages]
    assert pipelined.account(replayed) == in_turn.account(replayed)  # same stream times and ids remembered


def _always_full_check(e: dict[str, Any], latest_ms: int, limits: Any = None) -> bool:
    return False


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(data_created(), st.sampled_from([None, None, 0, 1, 2])), min_size=1, max_size=25))
def test_the_fast_path_counts_exactly_what_the_full_check_counts(events: list[tuple[dict[str, Any], int | None]]) -> None:
    pool = [str(uuid.UUID(int=i + 1, version=4)) for i in range(3)]
    datums = [{**e, "event_id": pool[i]} if i is not None else e for e, i in events]  # resends among them
    messages = [Message("t", 0, 0, _batch(*datums)), *(Message("t", 1, i, _dc(e)) for i, e in enumerate(datums))]
    fast = accountant().account(messages)
    with mock.patch("zettaledger.streams.tally.data_created_is_plain", _always_full_check):
        full = accountant().account(messages)
    assert full == fast


def test_a_parent_named_twice_is_one_edge_counted_once() -> None:
    plan = accountant().account([Message("t", 0, 0, CODEC.encode("DataCreated", created(1000, parent_dataset_ids=["P", "P"])))])
    ((edge),) = rows_of(plan, "lineage")
    assert (edge["parent_id"], edge["events"], edge["bytes"]) == ("P", 1, 1000)  # was (2, 2000)


def test_volume_cells_keep_the_reporter_and_how_the_bytes_came_to_be() -> None:
    events = [
        created(5, producer_id="a", parent_dataset_ids=[]),
        created(6, producer_id="a", parent_dataset_ids=["p"]),
        created(7, producer_id="b", parent_dataset_ids=["p"], derivation="COPY"),
    ]
    plan = accountant().account([Message("t", 0, i, CODEC.encode("DataCreated", e)) for i, e in enumerate(events)])
    cells = {(r["producer_id"], r["derivation"]): r["bytes"] for r in rows_of(plan, "volume")}
    assert cells == {("a", "ORIGINAL"): 5, ("a", "DERIVED"): 6, ("b", "COPY"): 7}
