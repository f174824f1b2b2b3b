"""The sink's SQL on the real ClickHouse engine (chDB, in process)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from tests.unit.samples import SAMPLES, batch_of
from zettaledger.schemas import EventCodec
from zettaledger.sinks.client import Client
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.queries import lineage_summary, read_national_accounts
from zettaledger.sinks.writer import LedgerConflict, LedgerWriter, migrate
from zettaledger.streams.accountant import Accountant, Message
from zettaledger.streams.dedup import DedupWindow

CODEC = EventCodec()


def writer(open_chdb: Callable[[Path], Client], tmp_path: Path) -> LedgerWriter:
    w = LedgerWriter(open_chdb(tmp_path / "chdb"), "zl_unit")
    w.setup()
    return w


def event(name: str, **changes: Any) -> dict[str, Any]:
    return {**SAMPLES[name], "event_id": str(uuid.uuid4()), **changes}


def test_migrations_run_twice_apply_nothing_the_second_time(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    client = open_chdb(tmp_path / "chdb")
    assert migrate(client, "zl_unit") == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert migrate(client, "zl_unit") == []


def test_a_retried_flush_is_refused_as_already_held_and_sums_stay_exact(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    w = writer(open_chdb, tmp_path)
    a = Accountant(CODEC, DedupWindow(3600, 1000))
    messages = [Message("t", 0, i, CODEC.encode("DataCreated", event("DataCreated", bytes=2**63 - 1))) for i in range(4)]
    plan = a.account(messages)
    w.write(plan.flush)
    with pytest.raises(LedgerConflict) as conflict:
        w.write(plan.flush)  # an ambiguous acknowledgement, retried
    assert conflict.value.watermarks == {("t", 0): 3}
    assert w.holds(plan.watermarks)
    ((total,),) = w.client.query("SELECT sum(bytes) FROM zl_unit.data_created_by_year").result_rows
    assert total == 4 * (2**63 - 1)
    assert w.watermarks("t") == {0: 3}
    ids = [m for m in plan.sightings]
    found = w.sightings("t", {0: ids}, int(time.time()) - 60)
    assert {e: place[:3] for e, place in found.items()} == {e: place[:3] for e, place in plan.sightings.items()}
    assert w.sightings("t", {0: ids}, int(time.time()) + 60) == {}  # seen before the horizon: not found
    assert w.sightings("t", {1: ids}, 0) == {}  # another partition


def test_the_national_views_answer_from_the_ledger(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    w = writer(open_chdb, tmp_path)
    a = Accountant(CODEC, DedupWindow(3600, 1000))
    first = event("DatasetRegistered", bytes=5 * 10**15)
    later = {**event("DatasetRegistered", bytes=7 * 10**15), "event_time": first["event_time"] + 1}
    batch = batch_of(
        [
            ("DataCreated", event("DataCreated")),
            ("TokenUsage", event("TokenUsage")),
            ("DatasetRegistered", first),
            ("DatasetRegistered", later),
            ("CollectionRun", event("CollectionRun")),
        ]
    )
    plan = a.account([Message("t", 0, 0, CODEC.encode("EventBatch", batch)), Message("t", 0, 1, b"junk")])
    w.write(plan.flush)
    accounts = read_national_accounts(w.client, "zl_unit")
    assert accounts.created[(2025, "AI")] == (2**63 - 1, 42)
    assert sum(accounts.tokens_by_day.values()) == 1000
    assert (accounts.high_quality_datasets, accounts.high_quality_bytes) == (1, 7 * 10**15)  # the later registration wins
    assert accounts.collection[0].usable_captures == 95
    assert accounts.lineage.edges == 1
    assert (accounts.events_counted, accounts.dead_lettered) == (5, 1)


def test_lineage_depth_is_the_longest_chain() -> None:
    summary = lineage_summary([("raw", "hq", 0), ("hq", "train", 5), ("train", "infer", 7), ("raw2", "train", 1)], 12)
    assert (summary.edges, summary.root_datasets, summary.derived_datasets, summary.max_depth) == (4, 2, 3, 3)
    assert summary.derived_bytes == 12


def test_bytes_created_from_parents_count_once_per_event_however_many_parents(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    w = writer(open_chdb, tmp_path)
    a = Accountant(CODEC, DedupWindow(3600, 1000))
    events = [
        event("DataCreated", bytes=1000, parent_dataset_ids=["a", "b"]),  # two parents: 1,000 bytes derived, not 2,000
        event("DataCreated", bytes=10, parent_dataset_ids=[]),  # original
        event("DataCreated", bytes=7, parent_dataset_ids=["p"], derivation="COPY"),  # a replica
    ]
    plan = a.account([Message("t", 0, i, CODEC.encode("DataCreated", e)) for i, e in enumerate(events)])
    w.write(plan.flush)
    accounts = read_national_accounts(w.client, "zl_unit")
    assert accounts.lineage.derived_bytes == 1007
    by_derivation = {
        r[0]: r[1]
        for r in w.client.query(
            "SELECT derivation, sum(bytes) FROM zl_unit.ledger WHERE kind = 'volume' GROUP BY derivation"
        ).result_rows
    }
    assert by_derivation == {"DERIVED": 1000, "ORIGINAL": 10, "COPY": 7}


def test_a_zombie_flush_overlapping_another_workers_offsets_is_refused(
    open_chdb: Callable[[Path], Client], tmp_path: Path
) -> None:
    w = writer(open_chdb, tmp_path)
    messages = [Message("t", 2, i, CODEC.encode("DataCreated", event("DataCreated", bytes=1))) for i in range(10)]
    new_owner = Accountant(CODEC, DedupWindow(3600, 1000)).account(messages[:6])
    zombie = Accountant(CODEC, DedupWindow(3600, 1000)).account(messages)
    w.write(new_owner.flush)
    with pytest.raises(LedgerConflict):
        w.write(zombie.flush)
    late_zombie = Accountant(CODEC, DedupWindow(3600, 1000), watermarks={("t", 2): 5}).account(messages)
    w.write(late_zombie.flush)  # re-planned after the conflict: only offsets 6..9
    ((total,),) = w.client.query("SELECT sum(bytes) FROM zl_unit.data_created_by_year").result_rows
    assert total == 10


def test_rollups_are_exact_in_every_state_of_the_projections(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    from zettaledger.sinks import rollups

    w = writer(open_chdb, tmp_path)
    a = Accountant(CODEC, DedupWindow(3600, 1000))
    for first in (0, 3):
        plan = a.account(
            [
                Message("t", 0, i, CODEC.encode("DataCreated", event("DataCreated", bytes=2**63 - 1)))
                for i in range(first, first + 3)
            ]
        )
        w.write(plan.flush)
        a.committed(plan)

    def total() -> int:
        ((n,),) = w.client.query("SELECT sum(bytes) FROM zl_unit.data_created_by_year").result_rows
        return int(n)

    assert rollups.check(w.client, "zl_unit") == []
    assert total() == 6 * (2**63 - 1)
    # parts without the projection (as if written before it existed) are read from their rows
    w.client.command("ALTER TABLE zl_unit.ledger CLEAR PROJECTION rollup_created_daily SETTINGS mutations_sync = 2")
    assert total() == 6 * (2**63 - 1)
    rollups.rebuild(w.client, "zl_unit")
    assert rollups.check(w.client, "zl_unit") == []
    assert total() == 6 * (2**63 - 1)


def test_two_writers_racing_for_the_same_offsets_store_exactly_one(open_chdb: Callable[[Path], Client], tmp_path: Path) -> None:
    """Both pass the overlap check before either inserts (the window on a shared server): the storage keeps one."""
    import threading

    from zettaledger.sinks.writer import LedgerWriter

    w = writer(open_chdb, tmp_path)
    lock = threading.Lock()
    both_checked = threading.Barrier(2)

    class Racing(LedgerWriter):
        def check_unheld(self, flush: Flush) -> None:
            super().check_unheld(flush)
            both_checked.wait(timeout=30)  # neither inserts before both have checked

    class OneStatementAtATime:
        def __init__(self, client: Client) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            method = getattr(self._client, name)

            def serialised(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    return method(*args, **kwargs)

            return serialised

    client = cast(Client, OneStatementAtATime(w.client))
    values = [CODEC.encode("DataCreated", event("DataCreated", bytes=b)) for b in (1, 10, 100, 1000)]
    new_owner = Accountant(CODEC, DedupWindow(3600, 1000)).account([Message("t", 0, i, v) for i, v in enumerate(values)])
    zombie = Accountant(CODEC, DedupWindow(3600, 1000)).account([Message("t", 0, i, v) for i, v in enumerate(values[:2])])
    outcomes: dict[str, str] = {}

    def write(name: str, plan_flush: Flush) -> None:
        try:
            Racing(client, "zl_unit").write(plan_flush)
            outcomes[name] = "stored"
        except LedgerConflict as exc:
            outcomes[name] = "fenced" if exc.fenced else "refused"

    threads = [threading.Thread(target=write, args=(n, p.flush)) for n, p in (("owner", new_owner), ("zombie", zombie))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes.values()) == ["fenced", "stored"]  # the same start offset: one insert kept, the other told
    segments = w.client.query("SELECT offset_from, offset_to FROM zl_unit.ledger WHERE kind = 'segment'").result_rows
    assert len(segments) == 1
    ((total,),) = w.client.query("SELECT sum(bytes) FROM zl_unit.data_created_by_year").result_rows
    assert total == (1111 if segments[0][1] == 3 else 11)  # exactly one writer's counts, never both
