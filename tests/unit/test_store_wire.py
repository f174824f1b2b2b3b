"""The ledger host and its client speak the LedgerStore verbs as WIRE declares them.

A real HTTP server on an ephemeral port, in this process, over an in-memory store.
"""

from __future__ import annotations

import inspect
import json
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from zettaledger.sinks.client import SinkError, SinkUnavailable
from zettaledger.sinks.host import make_server
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.remote import RemoteLedger
from zettaledger.sinks.store import WIRE, LedgerStore
from zettaledger.sinks.writer import LedgerConflict


class MemoryStore(LedgerStore):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.marks: dict[tuple[str, int], int] = {}
        self.fail: SinkError | None = None

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        self.calls.append(("setup", (cluster, dedup_horizon_hours)))

    def write(self, flush: Flush) -> None:
        self.calls.append(("write", flush))
        if self.fail is not None:
            raise self.fail
        if any(self.marks.get(tp, -1) >= start for tp, start in flush.starts.items()):
            raise LedgerConflict(dict(self.marks))
        for tp, start in flush.starts.items():
            self.marks[tp] = start + len(flush.rows) - 1

    def watermarks(self, topic: str) -> dict[int, int]:
        return {p: o for (t, p), o in self.marks.items() if t == topic}

    def stream_times(self, topic: str) -> dict[int, int]:
        return {p: 1000 * o for p, o in self.watermarks(topic).items()}

    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]:
        return {event_id: (p, 7 + n, n, since_s) for p, wanted in ids.items() for n, event_id in enumerate(wanted)}

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        return all(self.marks.get(tp, -1) >= o for tp, o in marks.items())


@pytest.fixture
def host() -> Iterator[tuple[str, dict[str, MemoryStore]]]:
    stores: dict[str, MemoryStore] = {}

    def open_store(database: str) -> LedgerStore:
        return stores.setdefault(database, MemoryStore())

    server = make_server(open_store, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", stores
    server.shutdown()
    server.server_close()


def test_wire_declares_every_protocol_verb_with_its_parameters() -> None:
    verbs = {n for n, m in vars(LedgerStore).items() if callable(m) and not n.startswith("_")}
    assert set(WIRE) == verbs
    for name, wire in WIRE.items():
        parameters = [p for p in inspect.signature(getattr(LedgerStore, name)).parameters if p != "self"]
        assert list(wire.bind(*[None] * len(parameters))) == parameters


def test_every_verb_round_trips_through_the_host(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, stores = host
    remote = RemoteLedger(url, "zl_a")
    remote.setup()
    remote.setup("national", 12)
    rows: list[tuple[object, ...]] = [("segment", "t", 0, 5, 6, 2**255)]
    flush = Flush("tok", rows, [["t"], [0]], {("t", 0): 5})
    remote.write(flush)
    store = stores["zl_a"]
    assert store.calls == [("setup", (None, 24)), ("setup", ("national", 12)), ("write", flush)]
    assert remote.watermarks("t") == {0: 5}
    assert remote.stream_times("t") == {0: 5000}
    assert remote.sightings("t", {3: ["id-1", "id-2"]}, 100) == {"id-1": (3, 7, 0, 100), "id-2": (3, 8, 1, 100)}
    assert remote.holds({("t", 0): 5}) is True
    assert remote.holds({("t", 0): 6}) is False


def test_a_conflict_is_409_with_the_watermarks(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, _ = host
    remote = RemoteLedger(url, "zl_a")
    remote.write(Flush("a", [("segment",)], [], {("t", 1): 4}))
    with pytest.raises(LedgerConflict) as conflict:
        remote.write(Flush("b", [("segment",)], [], {("t", 1): 4}))
    assert conflict.value.watermarks == {("t", 1): 4}


def test_sink_errors_keep_their_retryability(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, stores = host
    remote = RemoteLedger(url, "zl_a")
    remote.setup()
    stores["zl_a"].fail = SinkUnavailable("down", 210, retryable=True)
    with pytest.raises(SinkUnavailable) as down:
        remote.write(Flush("a", [], [], {}))
    assert (down.value.retryable, down.value.code) == (True, 210)
    stores["zl_a"].fail = SinkError("bad SQL", 62)
    with pytest.raises(SinkError) as bad:
        remote.write(Flush("a", [], [], {}))
    assert (type(bad.value), bad.value.retryable, bad.value.code) == (SinkError, False, 62)


def test_the_host_refuses_unknown_verbs_and_hostile_databases(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, stores = host

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(url + path, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            json.loads(exc.read())
            return exc.code

    assert status("/healthz") == 200
    assert status("/v1/zl_a/watermarks?topic=t") == 200
    assert status("/v1/zl_a/drop_everything") == 404
    assert status("/v1/zl_a/watermarks") == 400  # no topic
    assert status("/v1/x%60%3BDROP/watermarks?topic=t") == 400
    assert status("/v1/zettaledg%C3%A9r/watermarks?topic=t") == 400
    assert set(stores) == {"zl_a"}
