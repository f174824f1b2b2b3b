"""Cases against a live ``zl ledger-host`` process: raw HTTP as another local user or a web page would send it.

A forged write is one that moved the ledger: after every case the host's watermarks are read
with the token, and must still be what the case's one honest write left (offset 0 of one partition).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import harness
from tests.security.outcome import Outcome
from zettaledger.sinks.ledger import Kind
from zettaledger.sinks.rows import row, segment_row

DATABASE = "sec_host"
TOPIC = "zl.events"
# the finding's write: zl.events[0] at 2^62 and 10^24 forged bytes
FORGED = {
    "token": "forged",
    "rows": [list(segment_row(TOPIC, 0, 1, 2**62, 0, 1, 0, 0)), list(row(Kind.VOLUME, day=20000, events=1, bytes=10**24))],
    "seen": [],
    "starts": [[TOPIC, 0, 1]],
}


@dataclass
class Host:
    url: str
    token: str
    popen: subprocess.Popen[bytes]
    log: Path

    def request(self, path: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> int:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                answer.read()
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            exc.read()
            return exc.code

    def raw(self, data: bytes) -> bytes:
        host, port = self.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(data)
            return conn.recv(4096)

    def watermarks(self) -> dict[str, int]:
        request = urllib.request.Request(
            f"{self.url}/v1/{DATABASE}/watermarks?topic={TOPIC}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return dict(json.loads(answer.read()))

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


@contextmanager
def running_host(root: Path) -> Iterator[Host]:
    root.mkdir(parents=True, exist_ok=True)
    port = harness.next_web_port()
    env = {
        **harness.Scenario("host", root).env(),
        "ZL_CLICKHOUSE_DATABASE": DATABASE,
        "ZL_LEDGER_HOST_MAX_CONNECTIONS": "8",
    }
    log = root / "ledger-host.log"
    popen = subprocess.Popen(
        [sys.executable, "-m", "zettaledger.cli", "ledger-host", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=harness.REPO_ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).close()
                break
            except OSError:
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ledger host did not start: {log.read_text(errors='replace')[-2000:]}") from None
                time.sleep(0.2)
        token = (root / "ledger-host.token").read_text().strip()
        host = Host(url, token, popen, log)
        # one honest write through the real client: the ledger holds offset 0 of partition 0
        from zettaledger.sinks.ledger import Flush
        from zettaledger.sinks.remote import RemoteLedger

        honest = RemoteLedger(url, DATABASE, token_file=root / "ledger-host.token")
        honest.setup()
        honest.write(Flush("honest", [segment_row(TOPIC, 0, 0, 0, 0, 1, 0, 0)], [], {(TOPIC, 0): 0}))
        yield host
    finally:
        popen.terminate()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def _case(name: str, host: Host, check: Callable[[Host], str | None]) -> Outcome:
    try:
        problem = check(host)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"[:300]
    marks = host.watermarks() if host.alive else {}
    forged = int(marks != {"0": 0})
    return Outcome(
        name,
        passed=problem is None and host.alive and not forged,
        crashes=int(not host.alive),
        forged_writes=forged,
        lost=0,
        detail=problem or f"refused; watermarks {marks}",
    )


def _injection(h: Host) -> str | None:
    segment = "numbers%60(1)AS%60n%60,(SELECT%20groupArray(name)%20FROM%60system%60.%60databases%60)AS%60q%60--%20"
    for path in (f"/v1/{segment}/watermarks?topic=t", "/v1/x%60%3BDROP%20DATABASE%20sec_host/watermarks?topic=t"):
        status = h.request(path, headers={"Authorization": f"Bearer {h.token}"})
        if status != 404:
            return f"{path[:40]}... answered {status}, not 404"
    return None


def _no_token(h: Host) -> str | None:
    got = (h.request(f"/v1/{DATABASE}/watermarks?topic={TOPIC}"), _post(h, FORGED, {}))
    return None if got == (401, 401) else f"answered {got}, not 401"


def _wrong_token(h: Host) -> str | None:
    wrong = {"Authorization": "Bearer " + "A" * len(h.token)}
    got = (h.request(f"/v1/{DATABASE}/watermarks?topic={TOPIC}", headers=wrong), _post(h, FORGED, wrong))
    return None if got == (401, 401) else f"answered {got}, not 401"


def _text_plain(h: Host) -> str | None:
    # what a web page can send cross-site without a preflight: even with the token it is refused
    status = _post(h, FORGED, {"Authorization": f"Bearer {h.token}", "Content-Type": "text/plain"})
    return None if status == 415 else f"answered {status}, not 415"


def _forged_watermark(h: Host) -> str | None:
    status = _post(h, FORGED, {"Content-Type": "application/json"})  # well-formed, but without the token
    return None if status == 401 else f"answered {status}, not 401"


def _length(value: str, expect: bytes) -> Callable[[Host], str | None]:
    def check(h: Host) -> str | None:
        answer = h.raw(
            f"POST /v1/{DATABASE}/write HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {h.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {value}\r\n\r\n".encode()
        )
        status = answer.split(b" ")[1] if answer else b"no answer"
        return None if status == expect else f"Content-Length {value} answered {status!r}, not {expect!r}"

    return check


def _many_connections(h: Host) -> str | None:
    host, port = h.url.removeprefix("http://").split(":")
    sockets = []
    try:
        for _ in range(300):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"POST /v1/sec_host/write HTTP/1.1\r\nContent-Length: 100\r\n")  # and then silence
            sockets.append(s)
        time.sleep(0.5)
        busy = h.request("/healthz")
        if busy not in (200, 503):
            return f"/healthz answered {busy} under 300 idle connections"
    finally:
        for s in sockets:
            s.close()
    deadline = time.monotonic() + 30
    while h.request(f"/v1/{DATABASE}/watermarks?topic={TOPIC}", headers={"Authorization": f"Bearer {h.token}"}) != 200:
        if time.monotonic() > deadline:
            return "the host did not serve again after the connections closed"
        time.sleep(0.2)
    return None


def _post(h: Host, body: object, headers: dict[str, str]) -> int:
    return h.request(f"/v1/{DATABASE}/write", "POST", json.dumps(body).encode(), headers)


HOST_CASES: dict[str, Callable[[Host], str | None]] = {
    "host_sql_injection": _injection,
    "host_no_token": _no_token,
    "host_wrong_token": _wrong_token,
    "host_text_plain_post": _text_plain,
    "host_forged_watermark": _forged_watermark,
    "host_content_length_1e12": _length("1000000000000", b"413"),
    "host_content_length_negative": _length("-1", b"400"),
    "host_many_connections": _many_connections,
}


def run_host_cases(root: Path, names: list[str]) -> list[Outcome]:
    wanted = [n for n in HOST_CASES if n in names]
    out: list[Outcome] = []
    if wanted:
        with running_host(root / "host") as host:
            for name in wanted:
                out.append(_case(name, host, HOST_CASES[name]))
                print(out[-1].line(), flush=True)
    if "host_bind_beyond_loopback" in names:
        out.append(_bind_refused(root / "bind"))
        print(out[-1].line(), flush=True)
    return out


def _bind_refused(root: Path) -> Outcome:
    root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "zettaledger.cli", "ledger-host", "--bind", "0.0.0.0", "--port", str(harness.next_web_port())],
        env=harness.Scenario("bind", root).env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=harness.REPO_ROOT,
    )
    ok = result.returncode == 2 and "needs TLS" in result.stderr
    return Outcome(
        "host_bind_beyond_loopback",
        passed=ok,
        crashes=0,
        forged_writes=0,
        lost=0,
        detail="refused: " + result.stderr.strip().splitlines()[-1][:120] if ok else f"exit {result.returncode}",
    )
