"""The ledger host and its client speak the LedgerStore verbs as WIRE declares them.

A real HTTP server on an ephemeral port, in this process, over an in-memory store.
"""

from __future__ import annotations

import http.client
import inspect
import json
import os
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from zettaledger.errors import ConfigError
from zettaledger.sinks.client import SinkError, SinkUnavailable
from zettaledger.sinks.host import load_or_create_token, make_server, serve
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.remote import RemoteLedger
from zettaledger.sinks.store import WIRE, LedgerStore
from zettaledger.sinks.writer import LedgerConflict

TOKEN = "t" * 43


class MemoryStore(LedgerStore):
    single_writer = False

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

    server = make_server(open_store, "127.0.0.1", 0, database="zl_a", token=TOKEN, max_connections=4)
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
    remote = RemoteLedger(url, "zl_a", token=TOKEN)
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
    remote = RemoteLedger(url, "zl_a", token=TOKEN)
    remote.write(Flush("a", [("segment",)], [], {("t", 1): 4}))
    with pytest.raises(LedgerConflict) as conflict:
        remote.write(Flush("b", [("segment",)], [], {("t", 1): 4}))
    assert conflict.value.watermarks == {("t", 1): 4}


def test_sink_errors_keep_their_retryability(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, stores = host
    remote = RemoteLedger(url, "zl_a", token=TOKEN)
    remote.setup()
    stores["zl_a"].fail = SinkUnavailable("down", 210, retryable=True)
    with pytest.raises(SinkUnavailable) as down:
        remote.write(Flush("a", [], [], {}))
    assert (down.value.retryable, down.value.code) == (True, 210)
    stores["zl_a"].fail = SinkError("bad SQL", 62)
    with pytest.raises(SinkError) as bad:
        remote.write(Flush("a", [], [], {}))
    assert (type(bad.value), bad.value.retryable, bad.value.code) == (SinkError, False, 62)


def _status(url: str, path: str, method: str = "GET", body: bytes | None = None, /, **headers: str) -> int:
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        json.loads(exc.read())
        return exc.code


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_host_refuses_unknown_verbs_and_hostile_databases_and_opens_nothing_for_them(
    host: tuple[str, dict[str, MemoryStore]],
) -> None:
    url, stores = host
    assert _status(url, "/healthz") == 200
    assert _status(url, "/v1/zl_a/watermarks?topic=t", **AUTH) == 200
    assert _status(url, "/v1/zl_a/drop_everything", **AUTH) == 404
    assert _status(url, "/v1/zl_a/watermarks", **AUTH) == 400  # no topic
    # the SQL injection of the finding, through the database segment: never reaches SQL, opens nothing
    injected = "numbers%60(1)AS%60n%60,(SELECT%20name%20FROM%60system%60.%60databases%60)AS%60q%60--%20"
    assert _status(url, f"/v1/{injected}/watermarks?topic=t", **AUTH) == 404
    assert _status(url, "/v1/x%60%3BDROP/watermarks?topic=t", **AUTH) == 404
    assert _status(url, "/v1/zettaledg%C3%A9r/watermarks?topic=t", **AUTH) == 404
    assert _status(url, "/v1/zl_b/watermarks?topic=t", **AUTH) == 404  # a plain name, but not the one served
    assert set(stores) == {"zl_a"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-of-the-same-length-as-it-wrong!!", "Basic dXNlcg==", "Bearer"]
)
def test_without_the_token_nothing_is_read_or_written(
    host: tuple[str, dict[str, MemoryStore]], authorization: str | None
) -> None:
    url, stores = host
    headers = {"Authorization": authorization} if authorization else {}
    assert _status(url, "/v1/zl_a/watermarks?topic=t", **headers) == 401
    forged = json.dumps({"token": "f", "rows": [["segment", "zl.events", 0, 0, 2**62]], "seen": [], "starts": []}).encode()
    assert _status(url, "/v1/zl_a/write", "POST", forged, **{"Content-Type": "application/json", **headers}) == 401
    assert stores == {}


def test_a_cross_site_text_plain_post_is_refused_even_with_the_token(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, stores = host
    forged = json.dumps({"token": "f", "rows": [["segment", "zl.events", 0, 0, 2**62]], "seen": [], "starts": []}).encode()
    assert _status(url, "/v1/zl_a/write", "POST", forged, **{"Content-Type": "text/plain", **AUTH}) == 415
    assert stores == {}


def _raw(url: str, request: bytes, timeout: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as conn:
        conn.sendall(request)
        return conn.recv(4096)


@pytest.mark.parametrize(("length", "status"), [("1000000000000", b"413"), ("-1", b"400"), ("1e3", b"400"), (None, b"411")])
def test_a_body_length_that_is_huge_negative_or_missing_is_refused_before_reading(
    host: tuple[str, dict[str, MemoryStore]], length: str | None, status: bytes
) -> None:
    url, stores = host
    header = f"Content-Length: {length}\r\n" if length is not None else ""
    answer = _raw(
        url,
        f"POST /v1/zl_a/write HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\n{header}\r\n".encode(),
    )
    assert answer.split(b" ")[1] == status
    assert stores == {}


def test_connections_are_bounded_and_idle_ones_do_not_stop_the_host(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, _ = host
    hostname, port = url.removeprefix("http://").split(":")
    idle = [socket.create_connection((hostname, int(port)), timeout=10) for _ in range(50)]  # 4 slots, 50 sockets
    try:
        for conn in idle:
            conn.sendall(b"POST /v1/zl_a/write HTTP/1.1\r\n")  # and then silence
        time.sleep(0.2)
        started = time.monotonic()
        code = _status(url, "/healthz")
        assert code in (200, 503)  # answered: at worst busy, never hung or crashed
        assert time.monotonic() - started < 15
    finally:
        for conn in idle:
            conn.close()
    deadline = time.monotonic() + 10
    while _status(url, "/v1/zl_a/watermarks?topic=t", **AUTH) != 200:  # slots come back once the sockets close
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_the_token_file_is_private_reused_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ledger-host.token"
    token = load_or_create_token(path)
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_or_create_token(path)


def test_the_client_reads_the_token_file_and_follows_a_new_token(tmp_path: Path) -> None:
    path = tmp_path / "ledger-host.token"
    first = load_or_create_token(path)
    store = MemoryStore()
    server = make_server(lambda db: store, "127.0.0.1", 0, database="zl_a", token=first)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        remote = RemoteLedger(url, "zl_a", token_file=path)
        assert remote.watermarks("t") == {}
        assert TOKEN not in repr(remote) and first not in repr(remote)
        with pytest.raises(SinkError, match="refused the token"):
            RemoteLedger(url, "zl_a", token="x" * 43).watermarks("t")
    finally:
        server.shutdown()
        server.server_close()


def test_serving_beyond_loopback_needs_tls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs TLS"):
        serve("chdb://" + str(tmp_path), "0.0.0.0", 0, database="zl", token_file=tmp_path / "t")


def test_http_client_sees_json_errors(host: tuple[str, dict[str, MemoryStore]]) -> None:
    url, _ = host
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    conn.request("PUT", "/v1/zl_a/write", body=b"{}", headers=AUTH)
    assert conn.getresponse().status == 405
