"""A graceful stop that overruns ZL_SHUTDOWN_TIMEOUT_S ends anyway, with every stack in the log;
and the OpenLineage feed is never started by an app that is already stopping."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any, cast

from zettaledger.settings import Settings
from zettaledger.sinks.client import SinkUnavailable
from zettaledger.streams.ingest import Ingest
from zettaledger.streams.openlineage_consumer import OpenLineageService
from zettaledger.streams.shutdown_deadline import ShutdownDeadline


class _Exit:
    def __init__(self) -> None:
        self.codes: list[int] = []
        self.called = threading.Event()

    def __call__(self, code: int) -> None:
        self.codes.append(code)
        self.called.set()


def test_a_stop_still_running_at_the_deadline_dumps_threads_and_tasks_then_exits_with_the_code() -> None:
    out, exit_ = io.StringIO(), _Exit()
    deadline = ShutdownDeadline(0.05, 75, out=out, exit=exit_)

    async def stuck_stop() -> None:
        deadline.start(asyncio.get_running_loop())
        deadline.start()  # the stop's second signal changes nothing
        await asyncio.sleep(0.3)

    asyncio.run(stuck_stop())
    assert exit_.called.wait(5)
    assert exit_.codes == [75]
    dump = out.getvalue()
    assert "--- thread MainThread" in dump
    assert "--- task" in dump and "stuck_stop" in dump  # the coroutine that was waiting, by name


def test_a_stop_that_ends_in_time_exits_on_its_own() -> None:
    exit_ = _Exit()
    ShutdownDeadline(30, 75, out=io.StringIO(), exit=exit_).start()
    # The timer is a daemon thread: the process's own exit does not wait for it.
    timers = [t for t in threading.enumerate() if t.name == "zl-shutdown-deadline"]
    assert timers and all(t.daemon for t in timers)
    assert exit_.codes == []


class _StoppingApp:
    should_stop = True


class _UntouchableStore:
    """Any use of the ledger (the feed opening it) is recorded: a stopping worker must not open one.

    Refused as "unavailable", so a feed that did start would retry until stopped, not end the test's process.
    """

    def __init__(self) -> None:
        self.used: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.used.append(name)
        raise SinkUnavailable(f"the ledger was used ({name}) by a feed started during shutdown", retryable=True)


def test_an_app_already_stopping_does_not_start_the_openlineage_feed() -> None:
    settings = Settings()
    store = _UntouchableStore()
    ingest = Ingest(settings, store=cast(Any, store))
    service = OpenLineageService(cast(Any, _StoppingApp()), settings, ingest, cast(Any, None))

    async def start_late_then_stop() -> None:
        await service.start()  # what Faust does once its first rebalance ends, even after a SIGTERM
        await asyncio.sleep(0.2)
        await service.stop()

    asyncio.run(start_late_then_stop())
    assert store.used == []
    assert service.consumer is None
