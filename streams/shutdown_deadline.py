"""A bound on the worker's graceful shutdown: past ``ZL_SHUTDOWN_TIMEOUT_S`` it dumps its stacks and exits.

A graceful stop finishes the take in hand, commits Kafka offsets and leaves the
consumer groups; each of those waits on the broker, and a stop that waits on a
rebalance which never ends would keep the process alive until Kubernetes kills it
(its grace period) or, outside Kubernetes, forever. The ledger owns the offsets, so
exiting at the deadline loses nothing and counts nothing twice: a restart resumes
from the ledger. What the deadline adds is the evidence: every thread's stack and
every asyncio task's, in the log, so the wait that overran can be found.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType
from typing import TextIO

__all__ = ["ShutdownDeadline", "dump_stacks"]

log = logging.getLogger(__name__)


def dump_stacks(out: TextIO, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Every thread's stack, then every task of ``loop`` (read from another thread: best effort, never raises)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        print(f"--- thread {names.get(ident, ident)}", file=out)
        traceback.print_stack(frame, file=out)
    if loop is None:
        return
    try:
        tasks = list(asyncio.all_tasks(loop))
    except RuntimeError:  # the loop changed its task set while it was read: the threads above still tell
        return
    for task in tasks:
        print(f"--- task {task.get_name()}", file=out)
        for frame in _awaiting(task.get_coro()):
            print(f'  File "{frame.f_code.co_filename}", line {frame.f_lineno}, in {frame.f_code.co_name}', file=out)


def _awaiting(coro: object) -> list[FrameType]:
    """The frames of a suspended coroutine down to what it awaits (a task's own stack shows only the first)."""
    frames: list[FrameType] = []
    while coro is not None and len(frames) < 64:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return frames


class ShutdownDeadline:
    """Started when the stop begins (idempotent); if the process still runs ``timeout_s`` later, it exits."""

    def __init__(
        self,
        timeout_s: float,
        exit_code: int,
        *,
        out: TextIO | None = None,
        exit: Callable[[int], object] = os._exit,
    ) -> None:
        self.timeout_s = timeout_s
        self._exit_code = exit_code
        self._out = out
        self._exit = exit
        self._timer: threading.Timer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Begin counting (a second call changes nothing); ``loop``: whose tasks to dump if it runs out."""
        if self._timer is not None:
            return
        self._loop = loop
        # A daemon thread: a stop that finishes in time exits without waiting for it.
        self._timer = threading.Timer(self.timeout_s, self._overdue)
        self._timer.daemon = True
        self._timer.name = "zl-shutdown-deadline"
        self._timer.start()

    def _overdue(self) -> None:
        # The process's own stderr, not sys.stderr: Faust redirects that into its logger, a record a line.
        out = self._out or sys.__stderr__ or sys.stderr
        log.critical(
            "graceful shutdown did not finish within ZL_SHUTDOWN_TIMEOUT_S=%gs; exiting now (the ledger holds every "
            "durable take, so a restart resumes exactly). The stacks follow: the wait that overran is among them",
            self.timeout_s,
        )
        try:
            dump_stacks(out, self._loop)
            out.flush()
        finally:
            logging.shutdown()
            self._exit(self._exit_code)
