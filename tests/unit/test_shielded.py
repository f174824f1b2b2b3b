"""A take being planned or written runs to its end even when the worker is told to stop."""

from __future__ import annotations

import asyncio

import pytest

from zettaledger.streams.shielded import until_done


def test_cancelling_the_caller_waits_for_the_task_then_propagates() -> None:
    finished: list[str] = []

    async def write() -> str:
        await asyncio.sleep(0.05)
        finished.append("written")
        return "durable"

    async def scenario() -> None:
        task = asyncio.ensure_future(write())
        caller = asyncio.ensure_future(until_done(task))
        await asyncio.sleep(0.01)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert finished == ["written"] and task.result() == "durable"

    asyncio.run(scenario())


def test_the_result_is_the_tasks() -> None:
    async def scenario() -> str:
        return await until_done(asyncio.ensure_future(asyncio.sleep(0, result="durable")))

    assert asyncio.run(scenario()) == "durable"
