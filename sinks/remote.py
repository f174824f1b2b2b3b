"""The worker's side of a ledger host (``sinks.host``): the ``LedgerStore`` verbs over HTTP, as ``WIRE`` declares them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from zettaledger.sinks.client import SinkError, SinkUnavailable
from zettaledger.sinks.identifiers import check_identifier
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.store import WIRE, LedgerStore
from zettaledger.sinks.writer import LedgerConflict

__all__ = ["RemoteLedger"]


class RemoteLedger(LedgerStore):
    def __init__(self, base_url: str, database: str, timeout_s: float = 120.0) -> None:
        self._base = base_url.rstrip("/") + f"/v1/{check_identifier(database)}/"
        self._timeout = timeout_s

    def _call(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        wire = WIRE[verb]
        payload = wire.arguments_out(wire.bind(*args, **kwargs))
        url = self._base + verb
        data = None
        if wire.method == "GET":
            url += f"?{urlencode(payload)}"
        else:
            data = json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=wire.method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return wire.result_in(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
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
