"""Query side of the benchmark: the national report's queries on a ledger of 1e8 events.

ClickHouse generates the events itself (``numbers()``), one ledger row per event:
the worst case, where no flush aggregated anything. The rollups are projections of the
ledger, filled as the rows go in, exactly as they are when the worker writes.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from zettaledger.sinks.client import connect
from zettaledger.sinks.queries import read_national_accounts
from zettaledger.sinks.writer import migrate

DB = "bench_queries"


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def query_p95_ms(root: Path, quick: bool) -> float:
    n = 10**7 if quick else 10**8
    path = root / "queries" / "chdb"
    path.mkdir(parents=True, exist_ok=True)
    client = connect(f"chdb://{path}")
    try:
        migrate(client, DB)
        t = time.perf_counter()
        client.command(
            f"INSERT INTO {DB}.ledger (kind, topic, kafka_partition, offset_from, offset_to, day, source, region, events, bytes, records) "
            f"SELECT 'volume', 'bench', number % 4, number, number, toDate('2024-01-01') + intDiv(number * 731, {n}), "
            "['IOT','AI','TRAINING','INFERENCE'][number % 4 + 1], "
            "concat('CN-', ['GD','JS','ZJ','BJ','SH','SD','SC','HB','HA','FJ','HN','AH'][number % 12 + 1]), "
            f"1, 1000000000000000 + number % 1000000, 1 + number % 100 FROM numbers({n})"
        )
        client.command(
            f"INSERT INTO {DB}.ledger (kind, day, model, provider, region, events, input_tokens, output_tokens) "
            f"SELECT 'tokens', toDate('2024-01-01') + number % 821, concat('model-', toString(number % 6)), 'provider', "
            f"'CN-GD', 1, 100000000 + number, 50000000 FROM numbers({n // 100})"
        )
        print(f"   loaded {n:,} events (+{n // 100:,} token events) in {time.perf_counter() - t:.1f}s")
        ((rows,),) = client.query(
            "SELECT sum(rows) FROM system.projection_parts WHERE database = {db:String} AND active "
            "AND name = 'rollup_created_daily'",
            parameters={"db": DB},
        ).result_rows
        print(f"   rollup rows (the projection's, across parts): {int(rows):,}")
        timings = []
        for _ in range(25):
            t = time.perf_counter()
            accounts = read_national_accounts(client, DB)
            timings.append((time.perf_counter() - t) * 1000)
        assert accounts.created_total(2024) + accounts.created_total(2025) == sum(
            int(r[0])
            for r in client.query(
                f"SELECT sum(bytes) FROM {DB}.ledger WHERE kind = 'volume' SETTINGS optimize_use_projections = 0"
            ).result_rows
        )
        drill = []
        for _ in range(5):
            t = time.perf_counter()
            client.query(
                f"SELECT region, sum(bytes), sum(events) FROM {DB}.ledger WHERE kind = 'volume' AND source = 'AI' "
                "AND day BETWEEN '2025-03-01' AND '2025-03-31' GROUP BY region"
            )
            drill.append((time.perf_counter() - t) * 1000)
        full = []
        for _ in range(3):
            t = time.perf_counter()
            client.query(
                f"SELECT toYear(day), source, sum(bytes) FROM {DB}.ledger WHERE kind = 'volume' GROUP BY 1, 2 "
                "SETTINGS optimize_use_projections = 0"
            )
            full.append((time.perf_counter() - t) * 1000)
        p95 = _p95(timings)
        print(f"   national report (all its queries, through rollups): p50 {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms")
        print(f"   raw drill-down on the ledger (one month, one source, by region): median {statistics.median(drill):.0f} ms")
        print(f"   the same year-by-source totals without rollups (full ledger scan): median {statistics.median(full):.0f} ms")
        return p95
    finally:
        client.close()
