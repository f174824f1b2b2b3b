"""Shared fixtures. chDB allows one data directory per process at a time, so every
client a test opens is closed at teardown, before another test (or a worker
subprocess) opens a directory of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zettaledger.sinks.client import Client, connect


@pytest.fixture
def open_chdb() -> Iterator[Callable[[Path], Client]]:
    opened: list[Client] = []

    def _open(path: Path) -> Client:
        client = connect(f"chdb://{path}")
        opened.append(client)
        return client

    yield _open
    for client in opened:
        client.close()
