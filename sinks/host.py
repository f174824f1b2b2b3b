"""``zl ledger-host``: one process owns a chDB directory and serves the ledger to several workers.

chDB opens a directory in one process only, so workers on one machine (or a fault
test's rebalancing pair) cannot share embedded ClickHouse directly. The host runs
one ClickHouse statement at a time (chDB's client is not thread-safe), but not one
write at a time: between a write's overlap check and its inserts another write may
run, as on a ClickHouse server. What fences a worker that lost its partitions (a
zombie) is the storage itself: see ``LedgerWriter.write``. A server needs no host.

Protocol: JSON over HTTP under ``/v1/<database>/<verb>``, one verb per
``LedgerStore`` method as ``sinks.store.WIRE`` declares it; 409 with the ledger's
watermarks when a write overlaps them (``LedgerConflict``), 503 when a retry can
cure a failure, 500 when not, 400 for bad arguments; and ``/healthz``.

Who may ask, and what (the rules, in the order they are checked):

- **A token.** Every request but ``/healthz`` carries ``Authorization: Bearer <token>``,
  compared in constant time; else 401 and nothing is opened. The token is random
  (32 bytes), kept in a 0600 file (``ZL_LEDGER_HOST_TOKEN_FILE``, default
  ``<ZL_VAR_DIR>/ledger-host.token``) that the host creates when it is missing and
  that ``RemoteLedger`` reads: whoever can read it could open the chDB directory itself.
- **One database**, fixed when the host starts (``ZL_CLICKHOUSE_DATABASE``): any other
  name in the path is 404, and opens nothing.
- **JSON only.** A POST must say ``Content-Type: application/json`` (415 otherwise: a web
  page can send ``text/plain`` cross-site without a preflight, never JSON) and give a
  ``Content-Length`` (411), at most ``MAX_BODY_BYTES`` (413), refused before any byte of
  the body is read.
- **Bounded.** At most ``max_connections`` connections are served at once (one more is
  answered 503 at once, which ``RemoteLedger`` retries); a connection idle for
  ``IDLE_TIMEOUT_S`` is closed.
- **Loopback unless TLS.** ``serve`` refuses a non-loopback address unless a TLS
  certificate is configured (the token would travel in clear).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import secrets
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import parse_qs, urlparse

from zettaledger.errors import ConfigError
from zettaledger.sinks.client import SinkError, connect, mark_owner
from zettaledger.sinks.identifiers import check_identifier
from zettaledger.sinks.store import WIRE, LedgerStore, clickhouse_store
from zettaledger.sinks.writer import LedgerConflict

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from zettaledger.failpoints import Failpoints

__all__ = ["IDLE_TIMEOUT_S", "MAX_BODY_BYTES", "is_loopback", "load_or_create_token", "make_server", "serve"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 64 * 1024 * 1024  # a flush of ZL_FLUSH_MAX_BYTES (16 MiB) of payload is far below it as JSON rows
IDLE_TIMEOUT_S: Final = 30.0
_TOKEN_BYTES: Final = 32


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_or_create_token(path: Path) -> str:
    """The token in ``path``; a new random one written there (mode 0600, atomically) when it is missing.

    An existing file must be private to its owner and hold a token of at least 32
    characters: a token anyone on the machine can read protects nothing.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.unlink(missing_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(temporary, path)
        return token
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode & 0o777:o}): chmod 600 it, or delete it for a new token")
    token = path.read_text().strip()
    if len(token) < _TOKEN_BYTES:
        raise ConfigError(f"{path} holds a token shorter than {_TOKEN_BYTES} characters: delete it for a new one")
    return token


class _Host:
    def __init__(self, open_store: Callable[[str], LedgerStore], database: str) -> None:
        self.database = check_identifier(database)  # before anything is opened for it
        self._open_store = open_store
        self.lock = threading.Lock()
        self.store: LedgerStore | None = None

    def call(self, database: str, verb: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        if database != self.database:  # compared, never parsed: another name opens nothing
            return 404, {"error": "this ledger host serves one database, and not that one"}
        wire = WIRE.get(verb)
        if wire is None:
            return 404, {"error": f"no verb {verb[:64]!r}"}
        with self.lock:
            try:
                arguments = wire.arguments_in(query if wire.method == "GET" else body)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                return 400, {"error": f"bad arguments for {verb}: {type(exc).__name__}: {str(exc)[:200]}"}
            if self.store is None:
                try:
                    self.store = self._open_store(self.database)
                except SinkError as exc:
                    return (503 if exc.retryable else 500), {"error": str(exc), "retryable": exc.retryable, "code": exc.code}
        # The verb runs outside the host's lock: the client serialises statements, not writes.
        try:
            return 200, wire.result_out(getattr(self.store, verb)(**arguments))
        except LedgerConflict as exc:
            return 409, {
                "error": str(exc),
                "watermarks": [[t, p, o] for (t, p), o in sorted(exc.watermarks.items())],
                "fenced": exc.fenced,
            }
        except SinkError as exc:
            return (503 if exc.retryable else 500), {"error": str(exc), "retryable": exc.retryable, "code": exc.code}


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` at once; one more is answered 503 at once and closed
    (the accept loop never waits, so idle connections cannot queue the others behind them)."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("ledger host: a request from %s failed", client_address, exc_info=True)  # a client that went silent


_BUSY_BODY = b'{"error": "the ledger host is serving as many requests as it may (ZL_LEDGER_HOST_MAX_CONNECTIONS)"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n".encode()
    + b"Connection: close\r\n\r\n"
    + _BUSY_BODY
)


def _json_media_type(value: str | None) -> bool:
    return (value or "").split(";", 1)[0].strip().lower() == "application/json"


def make_server(
    open_store: Callable[[str], LedgerStore],
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    database: str,
    token: str,
    max_connections: int = 16,
    tls: ssl.SSLContext | None = None,
) -> ThreadingHTTPServer:
    """An HTTP server that answers the ``LedgerStore`` verbs of ``open_store(database)`` to holders of ``token``."""
    state = _Host(open_store, database)
    expected = token.encode()

    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_TIMEOUT_S  # a slow or silent client gives its slot back
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
            return scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), expected)

        def _route(self, body: dict[str, Any]) -> None:
            url = urlparse(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "v1":
                self._answer(404, {"error": "expected /v1/<database>/<verb>"})
                return
            query = {k: v[0] for k, v in parse_qs(url.query, max_num_fields=16).items()}
            status, payload = state.call(parts[1], parts[2], query, body)
            self._answer(status, payload)

        def _refused(self) -> bool:
            """401 unless the token is right: checked before anything else is looked at."""
            if self._authorized():
                return False
            self._answer(401, {"error": "a token is required: Authorization: Bearer <the ledger host's token file>"})
            return True

        def do_GET(self) -> None:
            if urlparse(self.path).path == "/healthz":
                self._answer(200, {"status": "ok"})
                return
            if not self._refused():
                self._route({})

        def do_POST(self) -> None:
            if self._refused():
                return
            if not _json_media_type(self.headers.get("Content-Type")):
                self._answer(415, {"error": "send Content-Type: application/json"})
                return
            raw = self.headers.get("Content-Length")
            if raw is None:
                self._answer(411, {"error": "a Content-Length is required"})
                return
            if not (raw.isascii() and raw.isdigit()):
                self._answer(400, {"error": "Content-Length must be a non-negative integer"})
                return
            length = int(raw)
            if length > MAX_BODY_BYTES:
                self._answer(413, {"error": f"a body is at most {MAX_BODY_BYTES} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400, {"error": "the body is not JSON"})
                return
            if not isinstance(body, dict):
                self._answer(400, {"error": "the body must be a JSON object"})
                return
            self._route(body)

        def do_PUT(self) -> None:
            self._answer(405, {"error": "GET or POST"})

        do_DELETE = do_PATCH = do_PUT

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    server = _BoundedServer((host, port), Handler, max_connections)
    if tls is not None:
        # the handshake happens in the request's thread, so a slow client cannot hold up accept()
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


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

    def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.raw_insert(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.command(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def serve(
    dsn: str,
    host: str = "127.0.0.1",
    port: int = 8765,
    failpoints: Failpoints | None = None,
    *,
    database: str,
    token_file: Path,
    max_connections: int = 16,
    tls_certfile: str = "",
    tls_keyfile: str = "",
) -> None:
    """Serve until interrupted (SIGTERM/SIGINT). ``failpoints`` fire in this process's writes."""
    if not is_loopback(host) and not tls_certfile:
        raise ConfigError(
            f"zl ledger-host --bind {host}: beyond loopback the host needs TLS (ZL_LEDGER_HOST_TLS_CERTFILE and "
            "ZL_LEDGER_HOST_TLS_KEYFILE) as well as its token, which would otherwise travel in clear"
        )
    tls = None
    if tls_certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(tls_certfile, tls_keyfile or None)
    token = load_or_create_token(token_file)
    client = cast("Client", _OneStatementAtATime(connect(dsn)))
    mark_owner(dsn)
    server = make_server(
        lambda db: clickhouse_store(client, db, failpoints),
        host,
        port,
        database=database,
        token=token,
        max_connections=max_connections,
        tls=tls,
    )
    scheme = "https" if tls else "http"
    log.info("ledger host on %s://%s:%d serving %s (database %s)", scheme, host, port, dsn, database)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        client.close()
