"""Live reads of an embedded ledger while the worker holds it: the worker's read-only query endpoint.

chDB opens a directory in one process, and while ``zl worker`` runs that process is the
worker. So the worker answers reads for everyone else, and nothing else changes:

- **One writer.** The endpoint runs each query on the worker's own ClickHouse thread, one at
  a time with the flushes (``streams.flush.Blocking``); nobody else opens the directory.
- **Read-only, whatever the text.** ``run_read`` is the one rule, for the endpoint and for
  ``zl sql`` alike: ClickHouse's own parser (``formatQuerySingleLine``) must see exactly one
  ``SELECT`` (or ``WITH ... SELECT``) with no ``INTO OUTFILE``, and the query runs with
  ClickHouse's ``readonly=1``, which refuses every INSERT, DDL, ``SET``, ``file()``/``url()``
  and settings change by itself. (The parser check is for what ``readonly`` lets through in
  chDB: ``INTO OUTFILE`` writes a local file, ``KILL QUERY`` runs.) Results are capped in rows
  (``max_result_rows``), time (``max_execution_time``) and bytes.
- **Authenticated.** A random token, new at every worker start, in ``zettaledger.query``
  inside the chDB directory, mode 0600: whoever can read it could open the directory itself
  when the worker is stopped, so the file grants nothing the files did not. Requests carry it
  as ``Authorization: Bearer``; without it the answer is 401 and nothing runs.
- **Loopback only.** The endpoint is served only when the worker's web port is bound to a
  loopback address (the default): the token travels in clear HTTP.

``connect(dsn, read_only=True)`` (``sinks.client``) finds that file, checks the worker's pid
is alive, and returns a ``WorkerReader``, which speaks this protocol behind the same
``Reader`` seam as a ClickHouse client: ``zl report``, ``zl export``, ``zl revisions`` and
``zl sql`` work unchanged while the worker runs. Writes (``zl publish``, ``zl migrate``) still
need the directory, and say so.

Wire: ``POST /zl/query`` with JSON ``{"sql": ..., "parameters": {...}}`` (at most 64 KiB);
the answer is JSON ``{"columns": [...], "types": [...], "rows": [[...], ...]}``, values
tagged where JSON has no type of its own (dates, times, UUIDs, decimals), integers exact.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import json
import os
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from zettaledger.sinks.client import Reader, ReadResult, SinkError, SinkUnavailable, error_code

__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "QUERY_FILE",
    "QUERY_PATH",
    "READ_ONLY_SETTINGS",
    "Endpoint",
    "ReadOnlyRefused",
    "Rows",
    "WorkerReader",
    "authorized",
    "live_endpoint",
    "new_token",
    "publish_endpoint",
    "run_read",
    "serve_query",
    "serves_live_queries",
    "withdraw_endpoint",
]

QUERY_FILE: Final = "zettaledger.query"
QUERY_PATH: Final = "/zl/query"
MAX_REQUEST_BYTES: Final = 64 * 1024
MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
READ_ONLY_SETTINGS: Final[Mapping[str, Any]] = {
    "readonly": 1,  # ClickHouse's own: no INSERT, DDL, SET, file(), url(), nor any settings change
    "max_execution_time": 30,  # the worker's flushes wait for a query: keep them short
    "max_result_rows": 1_000_000,
    "result_overflow_mode": "throw",
}
_READ_STATEMENTS: Final = ("SELECT ", "WITH ")


class ReadOnlyRefused(SinkError):
    """A statement that is not a single read; the message says what is allowed."""


@dataclass(frozen=True)
class Rows:
    """A query's answer as ``Reader`` callers use it (``result_rows``, ``column_names``)."""

    column_names: tuple[str, ...]
    result_rows: list[tuple[Any, ...]]
    column_types: tuple[str, ...] = ()


def run_read(client: Reader, sql: str, parameters: dict[str, Any] | None = None) -> ReadResult:
    """Run ``sql`` if ClickHouse's parser sees one SELECT; always with ``READ_ONLY_SETTINGS``."""
    settings = dict(READ_ONLY_SETTINGS)
    try:
        ((formatted,),) = client.query(
            "SELECT formatQuerySingleLine({q:String})", parameters={"q": sql}, settings=settings
        ).result_rows
    except (DatabaseError, OperationalError) as exc:
        raise ReadOnlyRefused(
            f"ClickHouse cannot parse this as one statement: {str(exc).strip()[:300]}", error_code(exc)
        ) from exc
    text = str(formatted)
    if not text.upper().startswith(_READ_STATEMENTS) or "INTO OUTFILE" in text.upper():
        raise ReadOnlyRefused(
            f"only a single SELECT (or WITH ... SELECT) without INTO OUTFILE is allowed here, not {text[:80]!r}; "
            "writes need the ledger's own process (stop the worker, or use a ClickHouse server)"
        )
    try:
        return client.query(sql, parameters=parameters or None, settings=settings)
    except (DatabaseError, OperationalError) as exc:
        code = error_code(exc)
        raise SinkError(f"ClickHouse refused the query (code {code}): {str(exc).strip()[:500]}", code) from exc


# --- values on the wire ----------------------------------------------------------------------


def _out(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        return {"$t": "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$t": "date", "v": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$t": "uuid", "v": str(value)}
    if isinstance(value, Decimal):
        return {"$t": "decimal", "v": str(value)}
    if isinstance(value, bytes):
        return {"$t": "bytes", "v": value.hex()}
    if isinstance(value, Mapping):
        return {"$t": "map", "v": [[_out(k), _out(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_out(v) for v in value]
    return str(value)  # IP addresses and the like: their text


def _in(value: Any) -> Any:
    if isinstance(value, list):
        return [_in(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind: Any = value.get("$t")
    v: Any = value.get("v")
    if kind == "datetime":
        return dt.datetime.fromisoformat(v)
    if kind == "date":
        return dt.date.fromisoformat(v)
    if kind == "uuid":
        return uuid.UUID(v)
    if kind == "decimal":
        return Decimal(v)
    if kind == "bytes":
        return bytes.fromhex(v)
    if kind == "map":
        return {_in(k): _in(x) for k, x in v}
    raise ValueError(f"unknown value tag {kind!r}")


def encode_rows(result: ReadResult) -> bytes:
    types = tuple(getattr(t, "name", str(t)) for t in getattr(result, "column_types", ()))
    return json.dumps(
        {
            "columns": list(result.column_names),
            "types": list(types),
            "rows": [[_out(v) for v in row] for row in result.result_rows],
        },
        separators=(",", ":"),
    ).encode()


def decode_rows(body: bytes) -> Rows:
    answer = json.loads(body)
    return Rows(tuple(answer["columns"]), [tuple(_in(v) for v in row) for row in answer["rows"]], tuple(answer.get("types", ())))


# --- the server side --------------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(32)


def authorized(token: str, authorization: str | None) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme == "Bearer" and bool(given) and hmac.compare_digest(given.strip().encode(), token.encode())


def serve_query(client: Reader, token: str, authorization: str | None, body: bytes) -> tuple[int, bytes]:
    """One request, answered: (HTTP status, JSON body). Runs on the worker's ClickHouse thread."""

    def error(status: int, message: str, code: int | None = None) -> tuple[int, bytes]:
        return status, json.dumps({"error": message, "code": code}).encode()

    if not authorized(token, authorization):
        return error(401, f"a token is required: Authorization: Bearer <the token in the chDB directory's {QUERY_FILE}>")
    if len(body) > MAX_REQUEST_BYTES:
        return error(413, f"the request is over {MAX_REQUEST_BYTES} bytes")
    try:
        request = json.loads(body)
        sql = request["sql"]
        parameters = {str(k): _in(v) for k, v in (request.get("parameters") or {}).items()}
        if not isinstance(sql, str):
            raise TypeError("sql must be a string")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return error(400, f'expected JSON {{"sql": "...", "parameters": {{...}}}}: {exc}')
    try:
        answer = encode_rows(run_read(client, sql, parameters))
    except ReadOnlyRefused as exc:
        return error(403, str(exc), exc.code)
    except SinkError as exc:
        return error(400, str(exc), exc.code)
    if len(answer) > MAX_RESPONSE_BYTES:
        return error(413, f"the answer is over {MAX_RESPONSE_BYTES} bytes: narrow the query (WHERE, GROUP BY, LIMIT)")
    return 200, answer


def serves_live_queries(dsn: str, bind: str) -> bool:
    """Only a worker on embedded chDB serves reads, and only on a loopback address (the token is sent in clear)."""
    if not dsn.startswith("chdb:"):
        return False
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str
    pid: int


def publish_endpoint(chdb_dir: Path, bind: str, port: int, token: str) -> Path:
    """Write the endpoint's address and token for readers: a new 0600 file, replaced atomically."""
    host = "127.0.0.1" if bind in ("localhost", "0.0.0.0") else bind
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    record = {"url": f"http://{host}:{port}{QUERY_PATH}", "token": token, "pid": os.getpid()}
    final = chdb_dir / QUERY_FILE
    temporary = chdb_dir / f".{QUERY_FILE}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(temporary, final)
    return final


def withdraw_endpoint(chdb_dir: Path, token: str) -> None:
    """Remove the file if it is still this worker's (a newer worker's file stays)."""
    found = _read_endpoint(chdb_dir)
    if found is not None and hmac.compare_digest(found.token.encode(), token.encode()):
        (chdb_dir / QUERY_FILE).unlink(missing_ok=True)


def _read_endpoint(chdb_dir: Path) -> Endpoint | None:
    try:
        record = json.loads((chdb_dir / QUERY_FILE).read_text())
        return Endpoint(str(record["url"]), str(record["token"]), int(record["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()  # our own file is never a worker to ask: we hold the directory


def live_endpoint(chdb_dir: Path) -> Endpoint | None:
    """The endpoint of the worker holding ``chdb_dir``, if one is running and serving reads."""
    found = _read_endpoint(chdb_dir)
    return found if found is not None and _alive(found.pid) else None


# --- the client side --------------------------------------------------------------------------


class WorkerReader:
    """A ``Reader`` that asks the worker holding a chDB directory: reads only, each one a request."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = 120.0) -> None:
        self.endpoint = endpoint
        self._timeout = timeout_s

    def query(self, query: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> Rows:
        """``settings`` are ignored: the worker always applies ``READ_ONLY_SETTINGS``."""
        body = json.dumps({"sql": query, "parameters": {k: _out(v) for k, v in (parameters or {}).items()}}).encode()
        request = urllib.request.Request(
            self.endpoint.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.endpoint.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return decode_rows(response.read())
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            message = f"the worker's query endpoint refused: {answer.get('error', exc)}"
            cls = ReadOnlyRefused if exc.code == 403 else SinkError
            raise cls(message, answer.get("code")) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SinkUnavailable(
                f"the worker (pid {self.endpoint.pid}) holds the ledger but its query endpoint {self.endpoint.url} "
                f"does not answer: {exc}; wait until it is ready, or stop it",
                retryable=True,
            ) from exc

    def command(self, cmd: str, *args: Any, **kwargs: Any) -> Any:
        raise self._writes()

    def insert(self, table: str | None = None, *args: Any, **kwargs: Any) -> Any:
        raise self._writes()

    def _writes(self) -> SinkError:
        return ReadOnlyRefused(
            f"the worker (pid {self.endpoint.pid}) holds the chDB directory and serves reads only; "
            "stop it (or let `zl worker --until-caught-up` finish) to write: publish, close, migrate"
        )

    def close(self) -> None:
        pass
