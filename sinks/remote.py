"""The worker's side of a ledger host (``sinks.host``): the ``LedgerStore`` verbs over HTTP, as ``WIRE`` declares them.

Every request carries the host's token (``Authorization: Bearer``), read from the token
file the host wrote (``ZL_LEDGER_HOST_TOKEN_FILE``); after a 401 the file is read again
once, so a host that made a new token is followed. ``ledger+https://`` URLs verify the
host's certificate against ``ZL_CLICKHOUSE_CA_FILE`` (or the system's CAs).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from zettaledger.sinks.client import SinkError, SinkUnavailable
from zettaledger.sinks.identifiers import check_identifier
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.store import WIRE, LedgerStore
from zettaledger.sinks.writer import LedgerConflict

__all__ = ["RemoteLedger"]


class RemoteLedger(LedgerStore):
    single_writer = False  # a ledger host serves several workers

    def __init__(
        self,
        base_url: str,
        database: str,
        timeout_s: float = 120.0,
        *,
        token_file: Path | None = None,
        token: str | None = None,
        ca_file: str = "",
    ) -> None:
        self._base = base_url.rstrip("/") + f"/v1/{check_identifier(database)}/"
        self._timeout = timeout_s
        self._token_file = token_file
        self._token = token
        self._context = ssl.create_default_context(cafile=ca_file or None) if base_url.startswith("https:") else None

    def __repr__(self) -> str:
        return f"RemoteLedger({self._base!r})"  # never the token

    def _read_token(self) -> str:
        if self._token_file is None:
            return self._token or ""
        try:
            return self._token_file.read_text().strip()
        except OSError as exc:
            raise SinkError(
                f"cannot read the ledger host's token at {self._token_file}: {exc}; start `zl ledger-host` with the same "
                "ZL_VAR_DIR (or set ZL_LEDGER_HOST_TOKEN_FILE to a copy of its token file)"
            ) from exc

    def _call(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        if self._token is None:
            self._token = self._read_token()
        try:
            return self._request(verb, *args, **kwargs)
        except _Unauthorized:
            self._token = self._read_token()  # the host may have made a new one
            try:
                return self._request(verb, *args, **kwargs)
            except _Unauthorized as exc:
                raise SinkError(
                    f"the ledger host at {self._base} refused the token: {exc}; check ZL_LEDGER_HOST_TOKEN_FILE"
                ) from exc

    def _request(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        wire = WIRE[verb]
        payload = wire.arguments_out(wire.bind(*args, **kwargs))
        url = self._base + verb
        data = None
        if wire.method == "GET":
            url += f"?{urlencode(payload)}"
        else:
            data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"}
        request = urllib.request.Request(url, data=data, method=wire.method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._context) as response:
                return wire.result_in(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            if exc.code == 401:
                raise _Unauthorized(answer.get("error", "401")) from exc
            if exc.code == 409:
                marks = {(t, int(p)): int(o) for t, p, o in answer["watermarks"]}
                raise LedgerConflict(marks, fenced=bool(answer.get("fenced"))) from exc
            message = f"ledger host: {answer.get('error', exc)}"
            if exc.code == 503:
                raise SinkUnavailable(message, answer.get("code"), retryable=True) from exc
            raise SinkError(message, answer.get("code")) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SinkUnavailable(
                f"ledger host at {self._base} unreachable: {exc}; is `zl ledger-host` running?", retryable=True
            ) from exc

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        self._call("setup", cluster, dedup_horizon_hours)

    def write(self, flush: Flush) -> None:
        self._call("write", flush)

    def watermarks(self, topic: str) -> dict[int, int]:
        marks: dict[int, int] = self._call("watermarks", topic)
        return marks

    def stream_times(self, topic: str) -> dict[int, int]:
        times: dict[int, int] = self._call("stream_times", topic)
        return times

    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]:
        found: dict[str, tuple[int, int, int, int]] = self._call("sightings", topic, ids, since_s)
        return found

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        held: bool = self._call("holds", marks)
        return held


class _Unauthorized(Exception):
    pass
