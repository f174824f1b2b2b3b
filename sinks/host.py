"""``zl ledger-host``: one process owns a chDB directory and serves the ledger to several workers.

chDB opens a directory in one process only, so workers on one machine (or a fault
test's rebalancing pair) cannot share embedded ClickHouse directly. The host runs
every write under one lock, which makes the writer's overlap check and the insert
a single atomic step: a worker that lost its partitions (a zombie) cannot add
offsets another worker already wrote. A ClickHouse server needs no host.

Protocol: JSON over HTTP on 127.0.0.1, under ``/v1/<database>/``:
``setup``, ``write`` (409 with the ledger's watermarks on overlap), ``watermarks``,
``stream_times``, ``seen_since``, ``holds``; and ``/healthz``.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from zettaledger.sinks.client import SinkError, connect, mark_owner
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.writer import LedgerConflict, LedgerWriter

__all__ = ["serve"]

log = logging.getLogger(__name__)


def _pairs(marks: dict[tuple[str, int], int]) -> list[list[Any]]:
    return [[t, p, o] for (t, p), o in sorted(marks.items())]


class _Host:
    def __init__(self, dsn: str) -> None:
        self.client = connect(dsn)
        mark_owner(dsn)
        self.lock = threading.Lock()
        self.writers: dict[str, LedgerWriter] = {}

    def writer(self, database: str) -> LedgerWriter:
        if database not in self.writers:
            self.writers[database] = LedgerWriter(self.client, database)
        return self.writers[database]

    def call(self, database: str, verb: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        w = self.writer(database)
        with self.lock:
            try:
                if verb == "setup":
                    w.setup(body.get("cluster"), int(body.get("dedup_horizon_hours", 24)))
                    return 200, {}
                if verb == "write":
                    starts = {(t, int(p)): int(o) for t, p, o in body["starts"]}
                    w.write(Flush(body["token"], [tuple(r) for r in body["rows"]], body["seen"], starts))
                    return 200, {}
                if verb == "watermarks":
                    return 200, {str(p): o for p, o in w.watermarks(query["topic"]).items()}
                if verb == "stream_times":
                    return 200, {str(p): o for p, o in w.stream_times(query["topic"]).items()}
                if verb == "seen_since":
                    rows = w.seen_since(query["topic"], int(query["since"]))
                    return 200, [[e.kafka_partition, e.event_id, e.offset, e.batch_index, e.seen_at] for e in rows]
                if verb == "holds":
                    return 200, {"holds": w.holds({(t, int(p)): int(o) for t, p, o in body["marks"]})}
                return 404, {"error": f"no verb {verb!r}"}
            except LedgerConflict as exc:
                return 409, {"error": str(exc), "watermarks": _pairs(exc.watermarks)}
            except SinkError as exc:
                return (503 if exc.retryable else 500), {"error": str(exc), "retryable": exc.retryable, "code": exc.code}


def serve(dsn: str, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until interrupted (SIGTERM/SIGINT)."""
    state = _Host(dsn)

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

    server = ThreadingHTTPServer((host, port), Handler)
    log.info("ledger host on http://%s:%d serving %s", host, port, dsn)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        state.client.close()
