"""The ingest agent on Faust's own test harness (``test_context``): messages in, one durable flush out.

No broker and no ClickHouse: the agent reads from an in-memory channel and writes
to the in-memory ledger of the flusher's tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from tests.unit.test_flush import TOPIC, MemoryDeadLetters, MemoryLedger, created
from zettaledger.failpoints import Failpoints
from zettaledger.settings import Settings
from zettaledger.streams.app import build_app
from zettaledger.streams.ingest import Ingest, register_ingest
from zettaledger.streams.message import Message


async def _ingest_through_the_agent(values: list[bytes], tmp: Path) -> tuple[MemoryLedger, Ingest]:
    settings = Settings.from_env({}, topic_events=TOPIC, batch_within_s=0.05, web_enabled=False, var_dir=str(tmp))
    app = build_app(settings)  # the worker's own app; test_context never connects to its broker
    ledger = MemoryLedger()
    state = Ingest(settings, Failpoints.parse(""), store=ledger)
    failures: list[BaseException] = []
    state.fatal = failures.append  # type: ignore[method-assign,assignment]  # the worker exits here; a test must not
    agent = register_ingest(app, settings, state)
    async with agent.test_context() as context:
        for value in values:
            await context.put(value, key=b"k", partition=0, wait=False)
        deadline = time.monotonic() + 10
        while state.stats.events < len(values) and not failures and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    if failures:
        raise failures[0]
    return ledger, state


def test_the_agent_hands_a_take_to_the_flusher_and_the_ledger_counts_it_once(tmp_path: Path) -> None:
    values = [created(b) for b in (1, 10, 100)]
    ledger, state = asyncio.run(_ingest_through_the_agent(values, tmp_path))
    assert ledger.counted() == 111
    assert state.stats.events == 3
    # The agent reads the events topic alone (OpenLineage has a feed of its own, openlineage_feed.py).
    assert state.accountant is not None
    assert state.accountant.watermarks == {(TOPIC, 0): 2}


def test_takes_of_the_agent_and_the_openlineage_feed_are_planned_one_at_a_time(tmp_path: Path) -> None:
    settings = Settings.from_env({}, topic_events=TOPIC, web_enabled=False, var_dir=str(tmp_path))
    ledger = MemoryLedger()
    state = Ingest(settings, Failpoints.parse(""), store=ledger)
    spans: list[str] = []

    async def slow_submit(messages: Sequence[Message], sizes: Sequence[int]) -> asyncio.Future[object]:
        spans.append(f"start {messages[0].topic}")
        await asyncio.sleep(0.02)  # planning, which reads and extends the flusher's chain of writes
        spans.append(f"end {messages[0].topic}")
        durable: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        durable.set_result(None)
        return durable

    async def both_at_once() -> None:
        dead = MemoryDeadLetters(ledger)
        # Both open (the agent and the feed race at start-up): one flusher results.
        flushers = await asyncio.gather(state.open(dead), state.open(dead))  # type: ignore[arg-type]
        assert flushers[0] is flushers[1]
        flushers[0].submit = slow_submit  # type: ignore[method-assign]
        await asyncio.gather(
            state.flush([Message(TOPIC, 0, 0, b"")], [0]), state.flush([Message("zl.openlineage", 0, 0, b"")], [0])
        )

    asyncio.run(both_at_once())
    assert spans == ["start zl.events", "end zl.events", "start zl.openlineage", "end zl.openlineage"]
