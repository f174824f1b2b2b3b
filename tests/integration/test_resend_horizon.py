"""The resend horizon holds at national rates: a day of ids in seen_events, resends 23 h later dropped.

A day at 100k events/s is 8.6e9 ids; 1e8 in seen_events (written straight into
ClickHouse, spread over the 23 hours before now) is already fifty times what the
in-memory window holds. The worker restarts with none of them in memory, finds the
resends of the oldest ones (event times at or before its partition's stream time)
in seen_events a batch at a time, and drops every one; new events count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import REPO_ROOT
from harness.seen import created, day_id, send
from tests.integration.conftest import Pipeline
from tests.integration.test_pipeline import accounts_of
from zettaledger.sinks.client import Client

pytestmark = pytest.mark.integration

SEEDED = 100_000_000
RESENT = 1_000


def _worker_stats(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    line = next(x for x in result.stderr.splitlines() if x.startswith("ZL-WORKER-STATS "))
    stats: dict[str, object] = json.loads(line.removeprefix("ZL-WORKER-STATS "))
    return stats


def test_resends_a_day_later_are_found_among_1e8_seen_ids_and_dropped(
    pipeline: Pipeline, open_chdb: Callable[[Path], Client]
) -> None:
    now_ms = int(time.time() * 1000)

    # A worker has counted the day: the ledger's stream time for partition 0 is now.
    send(pipeline.settings, [created(str(uuid.uuid4()), now_ms) for _ in range(10)])
    pipeline.run_worker()
    s = pipeline.settings
    seeded = subprocess.run(
        [sys.executable, "-m", "harness.seen", s.clickhouse_dsn, s.clickhouse_database, s.topic_events, "0", str(SEEDED), "23"],
        env=pipeline.env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    print(f"\n{SEEDED:,} sightings seeded in {seeded.stdout.strip()} s")

    # Resends of the day's first ids (seen 23 h ago, sent 23 h ago), and new events.
    day_start = now_ms - 23 * 3_600_000
    resends = [created(day_id(n), day_start + n, 1_000_000) for n in range(RESENT)]
    fresh = [created(str(uuid.uuid4()), now_ms + 1 + n, 7) for n in range(RESENT)]
    send(pipeline.settings, resends + fresh)
    stats = _worker_stats(pipeline.run_worker())
    print(
        f"worker with {SEEDED:,} seen ids: first flush after {stats['first_flush_s']} s, {stats['old_event_lookups']} ids looked up"
    )

    assert stats["duplicates"] == RESENT
    assert stats["events"] == RESENT  # the new ones
    accounts = accounts_of(pipeline, open_chdb)
    assert accounts.created_total(time.gmtime(now_ms / 1000).tm_year) == 10 + 7 * RESENT
