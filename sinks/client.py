"""The one place Zettaledger opens ClickHouse, through clickhouse-connect.

The DSN decides the engine: ``chdb:///abs/path`` opens the embedded chDB engine
in this process; ``http(s)://user:password@host:port`` talks to a server or a
cluster. Everything above this module speaks the same SQL to either.

A chDB path can be opened by one process at a time. The worker owns it while it
runs; other commands open it when the worker is stopped. Readers
(``connect(dsn, read_only=True)``: the report, exports, ``zl sql``) are then served by
the worker itself, through its read-only query endpoint (``sinks.live``), behind the
``Reader`` seam; writers fail with a message saying who holds the directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, overload
from urllib.parse import urlparse

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, Error, OperationalError

from zettaledger.errors import ZettaledgerError
from zettaledger.settings import redact_url

__all__ = [
    "RETRYABLE_ERRORS",
    "Client",
    "ReadResult",
    "Reader",
    "SinkError",
    "SinkUnavailable",
    "chdb_path",
    "connect",
    "error_code",
    "execute",
    "is_retryable",
    "mark_owner",
    "wrap",
]

# ClickHouse errors that a retry can cure (the server was busy, away or read-only for a while),
# by name as ClickHouse reports it, with its number (src/Common/ErrorCodes.cpp; a unit
# test checks each pair against the engine's own errorCodeToName).
RETRYABLE_ERRORS: dict[str, int] = {
    "TIMEOUT_EXCEEDED": 159,
    "READONLY": 164,
    "TOO_MANY_SIMULTANEOUS_QUERIES": 202,
    "NO_FREE_CONNECTION": 203,
    "SOCKET_TIMEOUT": 209,
    "NETWORK_ERROR": 210,
    "MEMORY_LIMIT_EXCEEDED": 241,
    "TABLE_IS_READ_ONLY": 242,
    "TOO_MANY_PARTS": 252,
    "UNKNOWN_STATUS_OF_INSERT": 319,
    "SYSTEM_ERROR": 425,
    "KEEPER_EXCEPTION": 999,
    "POCO_EXCEPTION": 1000,
}
_RETRYABLE_CODES = frozenset(RETRYABLE_ERRORS.values())
_MISSING_SCHEMA = {"UNKNOWN_TABLE": 60, "UNKNOWN_DATABASE": 81}
# Faults of the connection itself: retryable whatever they carry.
_UNAVAILABLE = (OperationalError, ConnectionError, TimeoutError)


class ReadResult(Protocol):
    """What readers use of a query's answer (a clickhouse-connect ``QueryResult`` is one)."""

    @property
    def column_names(self) -> Sequence[str]: ...

    @property
    def result_rows(self) -> Sequence[Sequence[Any]]: ...


class Reader(Protocol):
    """The read seam: a clickhouse-connect ``Client``, or ``sinks.live.WorkerReader`` while a worker holds chDB."""

    def query(
        self, query: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> ReadResult: ...

    def close(self) -> None: ...


class SinkError(ZettaledgerError):
    """ClickHouse refused or failed a statement; ``code`` is ClickHouse's error number when known."""

    def __init__(self, message: str, code: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class SinkUnavailable(SinkError):
    """ClickHouse cannot be reached or opened right now; retry later."""


def error_code(exc: BaseException) -> int | None:
    """ClickHouse's error number, from the driver's typed ``code``.

    clickhouse-connect sets ``code`` (and ``name``) on its errors for both the HTTP
    server and chDB. Some errors genuinely carry none: transport faults, chDB's
    engine failing to open (its RuntimeError, re-raised by the driver without a
    code), and anything not from the driver (OSError). Those are classified by
    type alone (``_UNAVAILABLE``); no message text is parsed.
    """
    code = exc.code if isinstance(exc, (Error, SinkError)) else None
    return code if isinstance(code, int) else None


def _error_name(exc: BaseException) -> str | None:
    name = exc.name if isinstance(exc, Error) else None
    return name if isinstance(name, str) else None


def is_retryable(exc: BaseException) -> bool:
    """Connection faults and busy-server codes are retryable; bad SQL and bad data are not."""
    if isinstance(exc, SinkError):
        return exc.retryable
    if isinstance(exc, _UNAVAILABLE):
        return True
    code = error_code(exc)
    if code is not None:
        return code in _RETRYABLE_CODES
    return _error_name(exc) in RETRYABLE_ERRORS


def wrap(exc: BaseException, what: str) -> SinkError:
    """Turn a driver error into a ``SinkError`` that says what failed and whether to retry."""
    code = error_code(exc)
    name = _error_name(exc)
    retryable = is_retryable(exc)
    cls = SinkUnavailable if isinstance(exc, _UNAVAILABLE) else SinkError
    hint = "; it will be retried" if retryable else ""
    if code in _MISSING_SCHEMA.values():
        hint = "; check ZL_CLICKHOUSE_DATABASE, and run `zl migrate` if the schema is not created yet"
    label = f"code {code} {name}" if name else f"code {code}"
    return cls(f"ClickHouse {what} failed ({label}): {str(exc).strip()[:500]}{hint}", code, retryable)


def chdb_path(dsn: str) -> Path | None:
    """The directory of a ``chdb://`` DSN, or None for servers and in-memory chDB."""
    if not dsn.startswith("chdb:"):
        return None
    parsed = urlparse(dsn)
    location = parsed.netloc + parsed.path if parsed.netloc not in ("", "memory", ":memory:") else parsed.path
    return Path(location) if location and location not in ("memory", ":memory:") else None


@overload
def connect(
    dsn: str,
    settings: dict[str, Any] | None = None,
    *,
    read_only: Literal[False] = False,
    timeout_s: float = ...,
    ca_file: str = ...,
) -> Client: ...


@overload
def connect(
    dsn: str, settings: dict[str, Any] | None = None, *, read_only: bool, timeout_s: float = ..., ca_file: str = ...
) -> Reader: ...


def connect(
    dsn: str,
    settings: dict[str, Any] | None = None,
    *,
    read_only: bool = False,
    timeout_s: float | None = None,
    ca_file: str | None = None,
) -> Client | Reader:
    """Open ClickHouse at ``dsn``; raises ``SinkUnavailable`` with what to do when it cannot.

    ``read_only=True``: a reader. When a live worker holds the chDB directory, that is the
    worker's query endpoint (``sinks.live``), so reads work while it ingests.
    ``timeout_s`` (``ZL_CLICKHOUSE_TIMEOUT_S``) bounds a request to a server; ``ca_file``
    (``ZL_CLICKHOUSE_CA_FILE``) is the CA bundle that verifies an https:// server. Both
    default to the environment's settings when not given.
    """
    if timeout_s is None:
        timeout_s = _env_float("ZL_CLICKHOUSE_TIMEOUT_S", 30.0)
    if ca_file is None:
        ca_file = os.environ.get("ZL_CLICKHOUSE_CA_FILE", "")
    path = chdb_path(dsn)
    if read_only and path is not None:
        from zettaledger.sinks.live import WorkerReader, live_endpoint

        endpoint = live_endpoint(path)
        if endpoint is not None:
            return WorkerReader(endpoint)
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    if dsn.startswith("chdb:"):
        _require_chdb()
    tls: dict[str, Any] = {"ca_cert": ca_file} if ca_file and dsn.startswith("https:") else {}
    try:
        if dsn.startswith("chdb:"):
            return clickhouse_connect.get_client(dsn=dsn, settings=settings or {})
        return clickhouse_connect.get_client(
            dsn=dsn, settings=settings or {}, connect_timeout=min(10, timeout_s), send_receive_timeout=timeout_s, **tls
        )
    except (ClickHouseError, OSError, RuntimeError) as exc:
        if path is not None:
            raise SinkUnavailable(
                f"cannot open chDB at {path}: {exc}. A chDB directory can be open in one process at a time: "
                f"stop the process that holds it (the worker? see {path}/zettaledger.owner), "
                "or set ZL_CLICKHOUSE_URL to a ClickHouse server to query while ingesting. "
                "A worker with ZL_WEB_ENABLED=true on a loopback ZL_WEB_BIND serves reads (zl report, zl export, "
                "zl sql) once it is ready; writes (zl publish, zl close, zl migrate) need it stopped",
                error_code(exc),
                retryable=True,
            ) from exc
        raise SinkUnavailable(
            f"cannot reach ClickHouse at {_redact(dsn)}: {exc}. Check ZL_CLICKHOUSE_URL and that the server is up",
            error_code(exc),
            retryable=True,
        ) from exc


def _redact(dsn: str) -> str:
    return redact_url(dsn)


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def _require_chdb() -> None:
    """The embedded engine is an extra: say how to get it, or how to do without."""
    try:
        import chdb  # noqa: F401
    except ImportError as exc:
        raise SinkError(
            "the embedded ClickHouse engine (chDB) is not installed: pip install 'zettaledger[embedded]', "
            "or set ZL_CLICKHOUSE_URL to a ClickHouse server (http:// or https://)"
        ) from exc


def mark_owner(dsn: str) -> None:
    """Record which process holds a chDB directory, for the message another process prints."""
    path = chdb_path(dsn)
    if path is not None:
        (path / "zettaledger.owner").write_text(f"pid {os.getpid()}\n")


def execute(client: Client, statements: Sequence[str]) -> None:
    for sql in statements:
        try:
            client.command(sql)
        except (DatabaseError, OperationalError) as exc:
            raise wrap(exc, f"statement {sql.split(chr(10), 1)[0][:80]!r}") from exc
