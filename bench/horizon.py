"""The resend horizon at national rates: start-up and old-event lookups with a day of ids in seen_events.

A worker that has counted a day restarts with 1e8 sightings in ``seen_events``
(harness.seen, written straight into ClickHouse, spread over 23 hours): how long
until its first flush (``startup_s``), whether resends of the day's oldest events
are all dropped (the horizon proven, ``resend_horizon_h``), and what one old
event's lookup costs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import REPO_ROOT, Scenario
from harness.seen import created, day_id, send
from zettaledger.sinks.client import connect
from zettaledger.sinks.writer import LedgerWriter

__all__ = ["HorizonRun", "horizon"]

_HOURS = 23


@dataclass(frozen=True)
class HorizonRun:
    seeded: int
    seed_s: float
    startup_s: float  # worker start to its first flush, with ``seeded`` ids in seen_events
    resends: int
    resends_dropped: int
    lookup_us_per_event: float  # one slice's lookup of 2,000 old ids, per id (median of 5)

    @property
    def horizon_proven_h(self) -> int:
        return _HOURS if self.resends_dropped == self.resends else 0


def horizon(root: Path, seeded: int = 100_000_000, resends: int = 2_000) -> HorizonRun:
    sc = Scenario("horizon", root / "horizon")
    sc.create_topics()
    now_ms = int(time.time() * 1000)
    send(sc.settings, [created(str(uuid.uuid4()), now_ms) for _ in range(10)])
    sc.run_until_caught_up()
    s = sc.settings
    seed = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.seen",
            s.clickhouse_dsn,
            s.clickhouse_database,
            s.topic_events,
            "0",
            str(seeded),
            str(_HOURS),
        ],
        env=sc.env(),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    day_start = now_ms - _HOURS * 3_600_000
    send(
        sc.settings,
        [created(day_id(n), day_start + n, 10**6) for n in range(resends)]
        + [created(str(uuid.uuid4()), now_ms + 1 + n) for n in range(resends)],
    )
    stats = sc.run_until_caught_up().stats()
    client = connect(s.clickhouse_dsn)
    try:
        writer = LedgerWriter(client, s.clickhouse_database)
        ids = [day_id(n) for n in range(seeded // 2, seeded // 2 + 2_000)]
        timings = []
        for _ in range(5):
            t = time.perf_counter()
            found = writer.sightings(s.topic_events, {0: ids}, int(time.time()) - 24 * 3600)
            timings.append(time.perf_counter() - t)
        assert len(found) == len(ids)
    finally:
        client.close()
    return HorizonRun(
        seeded=seeded,
        seed_s=float(seed.stdout.strip() or 0),
        startup_s=float(stats.get("first_flush_s", 0.0)),
        resends=resends,
        resends_dropped=int(stats.get("duplicates", 0)),
        lookup_us_per_event=statistics.median(timings) / len(ids) * 1e6,
    )
