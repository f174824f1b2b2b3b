"""The naive pipeline the benchmark measures against: one event per Kafka message, Apache
avro decoding, a Faust agent that handles each event on its own, and an insert of the
aggregated cells every 1,000 events (no resend filter, no dead-letter topic).

With ``--bare`` the agent only counts messages: the ceiling Faust's per-message
machinery puts on any pipeline that gets one event per message.

    python -m bench.naive EXPECTED_EVENTS [--bare]     (settings from ZL_* variables)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

import faust

from zettaledger.schemas import ReferenceCodec, check
from zettaledger.settings import Settings
from zettaledger.sinks.client import connect
from zettaledger.sinks.ledger import COLUMN_NAMES, COLUMNS
from zettaledger.sinks.writer import LedgerWriter
from zettaledger.streams.app import build_app
from zettaledger.telemetry import peak_rss_mb

_INDEX = {c.name: i for i, c in enumerate(COLUMNS)}


def main(expected: int, bare: bool = False) -> None:
    settings = Settings.from_env()
    app = build_app(settings)
    topic = app.topic(settings.topic_events, key_serializer="raw", value_serializer="raw")
    codec = ReferenceCodec()
    state: dict[str, Any] = {"events": 0, "first": 0.0, "last": 0.0}

    @app.agent(topic)
    async def naive(stream: faust.StreamT[bytes]) -> None:
        writer = LedgerWriter(connect(settings.clickhouse_dsn), settings.clickhouse_database)
        writer.setup()
        cells: dict[tuple[int, str, str], list[int]] = {}

        def flush() -> None:
            rows = []
            for (day, source, region), (n, b) in cells.items():
                row = [c.default for c in COLUMNS]
                row[0], row[_INDEX["day"]], row[_INDEX["source"]], row[_INDEX["region"]] = "volume", day, source, region
                row[_INDEX["events"]], row[_INDEX["bytes"]] = n, b
                rows.append(row)
            if rows:
                writer.client.insert(f"`{settings.clickhouse_database}`.ledger", rows, column_names=COLUMN_NAMES)
            cells.clear()

        async for value in stream:
            if not state["first"]:
                state["first"] = time.monotonic()
            if bare:
                state["events"] += 1
                if state["events"] >= expected:
                    state["last"] = time.monotonic()
                    os.kill(os.getpid(), signal.SIGTERM)
                continue
            decoded = codec.decode(value)
            e = decoded.datum
            check(decoded.name, e, 2_000_000_000_000)
            key = (e["event_time"] // 86_400_000, e.get("source", "TOKENS"), e["region"])
            cell = cells.setdefault(key, [0, 0])
            cell[0] += 1
            cell[1] += e.get("bytes", 0)
            state["events"] += 1
            if state["events"] % 1000 == 0 or state["events"] >= expected:
                flush()
                state["last"] = time.monotonic()
            if state["events"] >= expected:
                os.kill(os.getpid(), signal.SIGTERM)

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    busy = state["last"] - state["first"]
    print(
        "NAIVE-STATS "
        + json.dumps(
            {
                "events": state["events"],
                "busy_seconds": round(busy, 3),
                "rss_peak_mb": round(peak_rss_mb(), 1),
            }
        ),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), bare="--bare" in sys.argv)
