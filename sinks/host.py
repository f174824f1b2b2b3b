"""``zl ledger-host``: one process owns a chDB directory and serves the ledger to several workers.

chDB opens a directory in one process only, so workers on one machine (or a fault
test's rebalancing pair) cannot share embedded ClickHouse directly. The host runs
one ClickHouse statement at a time (chDB's client is not thread-safe), but not one
write at a time: between a write's overlap check and its inserts another write may
run, as on a ClickHouse server. What fences a worker that lost its partitions (a
zombie) is the storage itself: see ``LedgerWriter.write``. A server needs no host.

Protocol: JSON over HTTP on 127.0.0.1, under ``/v1/<database>/<verb>``, one verb
per ``LedgerStore`` method as ``sinks.store.WIRE`` declares it; 409 with the
ledger's watermarks when a write overlaps them (``LedgerConflict``), 503 when a
retry can cure a failure, 500 when not, 400 for a bad database name or arguments;
and ``/healthz``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlparse

from zettaledger.sinks.client import SinkError, connect, mark_owner
from zettaledger.sinks.identifiers import InvalidIdentifier, check_identifier
from zettaledger.sinks.store import WIRE, LedgerStore, clickhouse_store
from zettaledger.sinks.writer import LedgerConflict

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from zettaledger.failpoints import Failpoints

__all__ = ["make_server", "serve"]

log = logging.getLogger(__name__)


class _Host:
    def __init__(self, open_store: Callable[[str], LedgerStore]) -> None:
        self._open_store = open_store
        self.lock = threading.Lock()
        self.stores: dict[str, LedgerStore] = {}

    def call(self, database: str, verb: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        wire = WIRE.get(verb)
        if wire is None:
            return 404, {"error": f"no verb {verb!r}"}
        with self.lock:
            try:
                if database not in self.stores:
                    check_identifier(database)  # before anything is opened for it
                    self.stores[database] = self._open_store(database)
                arguments = wire.arguments_in(query if wire.method == "GET" else body)
            except InvalidIdentifier as exc:
                return 400, {"error": str(exc)}
            except (KeyError, ValueError, TypeError) as exc:
                return 400, {"error": f"bad arguments for {verb}: {exc!r}"}
        # The verb runs outside the host's lock: the client serialises statements, not writes.
        try:
            return 200, wire.result_out(getattr(self.stores[database], verb)(**arguments))
        except LedgerConflict as exc:
            return 409, {
                "error": str(exc),
                "watermarks": [[t, p, o] for (t, p), o in sorted(exc.watermarks.items())],
                "fenced": exc.fenced,
            }
        except SinkError as exc:
            return (503 if exc.retryable else 500), {"error": str(exc), "retryable": exc.retryable, "code": exc.code}


def make_server(open_store: Callable[[str], LedgerStore], host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """An HTTP server that answers the ``LedgerStore`` verbs of ``open_store(database)``; not yet serving."""
    state = _Host(open_store)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, body: dict[str, Any]) -> None:
            url = urlparse(self.path)
            if url.path == "/healthz":
                self._answer(200, {"status": "ok"})
                return
            parts = url.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "v1":
                self._answer(404, {"error": "expected /v1/<database>/<verb>"})
                return
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, payload = state.call(parts[1], parts[2], query, body)
            self._answer(status, payload)

        def do_GET(self) -> None:
            self._route({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._route(json.loads(self.rfile.read(length) or b"{}"))

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


class _OneStatementAtATime:
    """The client, with each statement run under one lock: the writes of several workers interleave between statements."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lock = threading.Lock()

    def query(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.query(*args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.insert(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.command(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def serve(dsn: str, host: str = "127.0.0.1", port: int = 8765, failpoints: Failpoints | None = None) -> None:
    """Serve until interrupted (SIGTERM/SIGINT). ``failpoints`` fire in this process's writes."""
    client = cast("Client", _OneStatementAtATime(connect(dsn)))
    mark_owner(dsn)

    server = make_server(lambda database: clickhouse_store(client, database, failpoints), host, port)
    log.info("ledger host on http://%s:%d serving %s", host, port, dsn)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        client.close()
