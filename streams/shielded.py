"""Awaiting a task that must run to its end, even when the awaiting coroutine is cancelled."""

from __future__ import annotations

import asyncio
from typing import TypeVar

__all__ = ["until_done"]

T = TypeVar("T")


async def until_done(task: asyncio.Future[T]) -> T:
    """``task``'s result. A cancellation of the caller (a shutdown) waits for ``task`` to end, then
    propagates: a take being planned or written is never abandoned half-done."""
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise
