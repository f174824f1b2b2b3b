"""Live reads (sinks.live): the read-only rule on the real engine, the token, and the report and exports read
through the endpoint exactly as they read chDB directly. The worker's own page is tested in the integration suite."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ledger_rows import DB, insert, ready, segment, volume
from zettaledger.sinks.client import Client, SinkError, connect
from zettaledger.sinks.live import (
    QUERY_FILE,
    Endpoint,
    ReadOnlyRefused,
    WorkerReader,
    decode_rows,
    encode_rows,
    live_endpoint,
    new_token,
    publish_endpoint,
    run_read,
    serve_query,
    serves_live_queries,
    withdraw_endpoint,
)
from zettaledger.sinks.queries import read_national_accounts
from zettaledger.statistics.export import observations, to_sdmx_csv
from zettaledger.statistics.vintages import accounts_at, publish, revisions

D = dt.date(2025, 3, 1)
T1 = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)


@pytest.fixture
def client(open_chdb: Callable[[Path], Client], tmp_path: Path) -> Client:
    c = ready(open_chdb(tmp_path / "chdb"))
    insert(c, volume(D, "AI", "CN-BJ", 10**24, "a"), volume(D, "IOT", "CN-SH", 2**64 + 1, "b"), segment(2, 2))
    publish(c, DB, "2025", now=T1)
    return c


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO zl_stats.ledger (kind) VALUES ('volume')",
        "SELECT 1; DROP TABLE zl_stats.ledger",
        "DROP TABLE zl_stats.ledger",
        "KILL QUERY WHERE 1",
        "SET readonly = 0",
        "SYSTEM DROP DNS CACHE",
    ],
)
def test_only_a_single_select_passes_the_parser(client: Client, sql: str) -> None:
    with pytest.raises(ReadOnlyRefused):
        run_read(client, sql)
    assert run_read(client, "SELECT count() FROM zl_stats.ledger").result_rows == [(3,)]  # nothing changed


def test_into_outfile_is_refused_before_it_can_write_a_file(client: Client, tmp_path: Path) -> None:
    target = tmp_path / "stolen.txt"
    with pytest.raises(ReadOnlyRefused, match="INTO OUTFILE"):
        run_read(client, f"SELECT * FROM zl_stats.ledger INTO OUTFILE '{target}'")
    assert not target.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM file('/etc/hostname', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1 SETTINGS max_execution_time = 100000",
    ],
)
def test_what_the_parser_lets_through_clickhouse_refuses_by_readonly(client: Client, sql: str) -> None:
    with pytest.raises(SinkError, match="164") as caught:
        run_read(client, sql)
    assert caught.value.code == 164  # READONLY


def test_values_travel_exactly() -> None:
    when = dt.datetime(2025, 4, 1, 9, 30, 0, 123000)
    rows = [(10**24, 2**256 - 1, D, when, when.replace(tzinfo=dt.UTC), "x\ty", None, Decimal("1.5"), [1, 2], {"k": 1}, 0.25)]

    class Result:
        column_names = tuple("abcdefghijk")
        result_rows = rows

    back = decode_rows(encode_rows(Result()))
    assert back.column_names == Result.column_names
    assert back.result_rows == [tuple(r) for r in rows]


def test_the_token_is_required_and_checked(client: Client) -> None:
    token = new_token()
    body = json.dumps({"sql": "SELECT 1"}).encode()
    assert serve_query(client, token, None, body)[0] == 401
    assert serve_query(client, token, "Bearer " + new_token(), body)[0] == 401
    assert serve_query(client, token, token, body)[0] == 401  # the scheme is part of it
    status, answer = serve_query(client, token, f"Bearer {token}", body)
    assert status == 200 and decode_rows(answer).result_rows == [(1,)]
    insert_sql = json.dumps({"sql": "INSERT INTO zl_stats.ledger (kind) VALUES ('volume')"}).encode()
    assert serve_query(client, token, f"Bearer {token}", insert_sql)[0] == 403
    assert serve_query(client, token, f"Bearer {token}", b"{not json")[0] == 400
    assert serve_query(client, token, f"Bearer {token}", b" " * (64 * 1024 + 1))[0] == 413


def test_only_a_loopback_worker_on_chdb_serves() -> None:
    assert serves_live_queries("chdb:///x", "127.0.0.1") and serves_live_queries("chdb:///x", "::1")
    assert not serves_live_queries("chdb:///x", "0.0.0.0")
    assert not serves_live_queries("http://ch:8123", "127.0.0.1")


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live pid that is not ours: the endpoint file names the worker's."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_the_endpoint_file_is_private_and_only_a_live_worker_counts(tmp_path: Path, other_process: int) -> None:
    token = new_token()
    path = publish_endpoint(tmp_path, "127.0.0.1", 6066, token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert record["url"] == "http://127.0.0.1:6066/zl/query" and record["pid"] == os.getpid()
    assert live_endpoint(tmp_path) is None  # our own pid: this process is no worker to ask
    path.write_text(json.dumps({**record, "pid": other_process}))
    assert live_endpoint(tmp_path) == Endpoint(record["url"], token, other_process)
    withdraw_endpoint(tmp_path, "another worker's token")
    assert path.exists()
    withdraw_endpoint(tmp_path, token)
    assert not path.exists()


def _serve(client: Client, token: str) -> tuple[ThreadingHTTPServer, int]:
    """The worker's page, reduced to what it does: hand the request to serve_query (one at a time)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                status, answer = serve_query(client, token, self.headers.get("Authorization"), body)
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def test_the_report_exports_and_revisions_read_the_same_through_the_endpoint(
    client: Client, tmp_path: Path, other_process: int
) -> None:
    token = new_token()
    server, port = _serve(client, token)
    try:
        chdb = tmp_path / "chdb"
        publish_endpoint(chdb, "127.0.0.1", port, token)
        record = json.loads((chdb / QUERY_FILE).read_text())
        (chdb / QUERY_FILE).write_text(json.dumps({**record, "pid": other_process}))  # as the worker wrote it
        reader = connect(f"chdb://{chdb}", read_only=True)
        assert isinstance(reader, WorkerReader)
        assert read_national_accounts(reader, DB) == read_national_accounts(client, DB)
        assert accounts_at(reader, DB, 1) == accounts_at(client, DB, 1)
        assert revisions(reader, DB, "2025") == revisions(client, DB, "2025")
        live = observations(reader, DB, "DATA_CREATED", unsuppressed=True)
        assert live == observations(client, DB, "DATA_CREATED", unsuppressed=True)
        assert str(10**24) in to_sdmx_csv("DATA_CREATED", live)
        with pytest.raises(ReadOnlyRefused, match="serves reads only"):
            publish(reader, DB, "2025")  # type: ignore[arg-type]  # a writer needs the directory
        with pytest.raises(SinkError, match="refused"):
            WorkerReader(Endpoint(record["url"], "wrong", other_process)).query("SELECT 1")
    finally:
        server.shutdown()
        server.server_close()
