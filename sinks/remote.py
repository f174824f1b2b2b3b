"""The worker's side of a ledger host (``sinks.host``): the ``LedgerStore`` verbs over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from zettaledger.sinks.client import SinkError, SinkUnavailable
from zettaledger.sinks.ledger import Flush
from zettaledger.sinks.writer import LedgerConflict, SeenEvent

__all__ = ["RemoteLedger"]


class RemoteLedger:
    def __init__(self, base_url: str, database: str, timeout_s: float = 120.0) -> None:
        self._base = base_url.rstrip("/") + f"/v1/{database}/"
        self._timeout = timeout_s

    def _call(self, verb: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        url = self._base + verb + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            url, data=data, method="POST" if data is not None else "GET", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            payload = json.loads(exc.read() or b"{}")
            if exc.code == 409:
                raise LedgerConflict({(t, int(p)): int(o) for t, p, o in payload["watermarks"]}) from exc
            message = f"ledger host: {payload.get('error', exc)}"
            if exc.code == 503:
                raise SinkUnavailable(message, payload.get("code"), retryable=True) from exc
            raise SinkError(message, payload.get("code")) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise SinkUnavailable(
                f"ledger host at {self._base} unreachable: {exc}; is `zl ledger-host` running?", retryable=True
            ) from exc

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None:
        self._call("setup", {"cluster": cluster, "dedup_horizon_hours": dedup_horizon_hours})

    def write(self, flush: Flush) -> None:
        self._call(
            "write",
            {
                "token": flush.token,
                "rows": flush.rows,
                "seen": flush.seen,
                "starts": [[t, p, o] for (t, p), o in flush.starts.items()],
            },
        )

    def watermarks(self, topic: str) -> dict[int, int]:
        return {int(p): int(o) for p, o in self._call("watermarks", topic=topic).items()}

    def stream_times(self, topic: str) -> dict[int, int]:
        return {int(p): int(t) for p, t in self._call("stream_times", topic=topic).items()}

    def seen_since(self, topic: str, since_s: int) -> Iterator[SeenEvent]:
        for p, event_id, offset, index, seen_at in self._call("seen_since", topic=topic, since=since_s):
            yield SeenEvent(int(p), str(event_id), int(offset), int(index), int(seen_at))

    def holds(self, marks: dict[tuple[str, int], int]) -> bool:
        return bool(self._call("holds", {"marks": [[t, p, o] for (t, p), o in marks.items()]})["holds"])
