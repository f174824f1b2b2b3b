"""The ingest agent on Faust's own test harness (``test_context``): messages in, one durable flush out.

No broker and no ClickHouse: the agent reads from an in-memory channel and writes
to the in-memory ledger of the flusher's tests.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.unit.test_flush import TOPIC, MemoryLedger, created
from zettaledger.failpoints import Failpoints
from zettaledger.settings import Settings
from zettaledger.streams.app import build_app
from zettaledger.streams.ingest import Ingest, register_ingest


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
    # The agent reads the events and OpenLineage topics; Faust's test context names such a channel
    # '<internal>', so the one partition written is looked up by its number.
    assert state.accountant is not None
    assert [o for (_, p), o in state.accountant.watermarks.items() if p == 0] == [2]
