"""`make bench`: throughput of the Zettaledger worker against the naive path and the decode limit.

All on this machine's real broker and chDB, in one run, medians of REPS runs:
  a) limit     the worker's decode-check-dedup-aggregate (Accountant) with no Kafka and no ClickHouse
  b) naive     one event per message, Apache avro, a per-event Faust agent (bench/naive.py)
  c) batched   the Zettaledger worker, EventBatch messages of 1,000 events
  d) single    the Zettaledger worker, one event per message
  e) bare      a Faust agent that only counts messages, one event per message: the
               ceiling Faust's per-message machinery sets for b) and d) on this machine
  f) OpenLineage run events through Kafka and the worker (orjson + the spec compiled once with
               jsonschema-rs, folded per flush), beside the naive decode: stdlib json + jsonschema
               per event, in process on the same messages (no Kafka: an upper bound for the naive)
  g) the lineage graph of bench/lineage.py (1e6 datasets, 5e6 edges; 1e5 with --quick): upstream
               depth 10 and one year's attribution, p95, beside the naive recursive CTE
Worker throughput is events / busy time (first message taken off the topic -> last flush
written, less the waits for messages while no write was in flight: ``RunStats``), the
topic being filled beforehand so producer and worker do not share the 2 cores; the bare
agent e) counts from its first message too. c) and d) run with the worker's defaults: the
last take of a finite topic is partial and waits ZL_BATCH_WITHIN_S (1 s) for messages that
never come, which is latency, not work, and is measured and left out. (The latency run
and f) use ZL_BATCH_WITHIN_S=0.2.) With 0.2 s, d) would flush every ~2,000 messages
instead of ZL_BATCH_MAX_MESSAGES, which is not how the worker runs.

    python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
from bench.events import bench_events
from harness import Scenario
from zettaledger.producers.producer import EventProducer
from zettaledger.schemas import BATCH_FIELD, EventCodec
from zettaledger.streams.accountant import Accountant, Message
from zettaledger.streams.dedup import DedupWindow
from zettaledger.streams.worker import end_offsets, tune_gc

REPS = 3


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def limit(n: int) -> float:
    codec = EventCodec()
    events = list(bench_events(n, seed=1))
    messages = []
    for i in range(0, n, 1000):
        batch: dict[str, Any] = {"batch_id": "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6cff", "producer_id": "bench", "sent_at": 0}
        batch.update({f: [] for f in BATCH_FIELD.values()})
        for e in events[i : i + 1000]:
            batch[BATCH_FIELD[e.schema_name]].append(e.to_avro())
        messages.append(Message("bench", i // 1000 % 4, i // 1000, codec.encode("EventBatch", batch)))
    size = sum(len(m.value or b"") for m in messages) / n
    print(f"  events average {size:.0f} bytes in Avro")
    rates = []
    tune_gc()  # as the worker does, so a) is the same work
    for _ in range(REPS):
        accountant = Accountant(codec, DedupWindow(86_400, 2_000_000))
        t = time.perf_counter()
        for j in range(0, len(messages), 200):
            accountant.committed(accountant.account(messages[j : j + 200]))
        rates.append(n / (time.perf_counter() - t))
    return median(rates)


@dataclass(frozen=True)
class WorkerRun:
    """Medians over REPS runs of the Zettaledger worker on one filled topic."""

    eps: float  # events / busy seconds
    producer_eps: float
    rss_mb: float  # the largest peak RSS of the runs
    along: dict[str, float]  # peak RSS (MB) after each share of the stream, last run


def produce(sc: Scenario, n: int, batch: int | None, seed: int) -> float:
    events = list(bench_events(n, seed=seed))
    t = time.perf_counter()
    with EventProducer(sc.settings, "bench", batch_events=batch or 1) as producer:
        for e in events:
            if batch:
                producer.add(e)
            else:
                producer.send(e)
    return n / (time.perf_counter() - t)


def zettaledger(root: Path, name: str, n: int, batch: int | None) -> WorkerRun:
    worker_rates: list[float] = []
    producer_rates: list[float] = []
    rss: list[float] = []
    along: list[dict[str, float]] = []
    for rep in range(REPS):
        sc = Scenario(f"{name}{rep}", root / f"{name}{rep}")  # the worker's defaults
        sc.create_topics()
        producer_rates.append(produce(sc, n, batch, seed=rep))
        stats = sc.run_until_caught_up(timeout_s=900).stats()
        worker_rates.append(stats["events"] / max(stats["busy_seconds"], 1e-9))
        rss.append(stats["rss_peak_mb"])
        along.append(stats.get("rss_mb_along_stream", {}))
    return WorkerRun(median(worker_rates), median(producer_rates), max(rss), along[-1])


def naive(root: Path, n: int, bare: bool = False) -> dict[str, float]:
    import json
    import subprocess

    rates, rss = [], []
    name = "bare" if bare else "naive"
    for rep in range(REPS):
        sc = Scenario(f"{name}{rep}", root / f"{name}{rep}")
        sc.create_topics()
        produce(sc, n, None, seed=rep)
        sc.root.mkdir(parents=True, exist_ok=True)
        log = sc.root / "naive.log"
        subprocess.run(
            [sys.executable, "-m", "bench.naive", str(n), *(["--bare"] if bare else [])],
            env=sc.env(),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            timeout=900,
            check=True,
            cwd=harness.REPO_ROOT,
        )
        line = next(x for x in reversed(log.read_text(errors="replace").splitlines()) if "NAIVE-STATS " in x)
        stats = json.loads(line.split("NAIVE-STATS ", 1)[1])
        rates.append(stats["events"] / max(stats["busy_seconds"], 1e-9))
        rss.append(stats["rss_peak_mb"])
    return {"eps": median(rates), "rss_mb": max(rss)}


def latency(root: Path, rate_eps: float, seconds: float = 20.0) -> dict[str, Any]:
    """Produced-to-visible latency with the producer held at rate_eps (half the measured maximum)."""
    import signal

    sc = Scenario("latency", root / "latency", extra_env={"ZL_BATCH_WITHIN_S": "0.2"})
    sc.create_topics()
    worker = sc.start_worker()
    worker.wait_ready()
    events = list(bench_events(int(rate_eps * seconds), seed=9))
    chunk = max(int(rate_eps / 10), 1)  # ten sends a second
    t0 = time.perf_counter()
    with EventProducer(sc.settings, "bench-latency", batch_events=min(chunk, 1000), linger_ms=5) as producer:
        for k, i in enumerate(range(0, len(events), chunk)):
            for e in events[i : i + chunk]:
                producer.add(e)
            producer.flush()
            ahead = t0 + (k + 1) / 10 - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    offered = len(events) / (time.perf_counter() - t0)
    deadline = time.monotonic() + 120
    target = sum(o - 1 for o in end_offsets(sc.settings).values() if o > 0)
    while worker.written() < target and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.signal(signal.SIGTERM)
    worker.wait()
    stats = worker.stats()
    return {"offered_eps": offered, "p50_ms": stats.get("latency_p50_ms"), "p99_ms": stats.get("latency_p99_ms")}


def openlineage(root: Path, runs: int) -> dict[str, float]:
    """f): run events/s of the worker on a filled OpenLineage topic (medians), and the naive decode's events/s."""
    import json

    import jsonschema

    from harness.openlineage_events import openlineage_messages
    from zettaledger.schemas.openlineage.decode import spec

    messages = list(openlineage_messages(runs, seed=5))
    rates = []
    for rep in range(REPS):
        sc = Scenario(f"openlineage{rep}", root / f"openlineage{rep}", extra_env={"ZL_BATCH_WITHIN_S": "0.2"})
        sc.create_topics()
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=sc.settings.kafka_servers, acks="all", linger_ms=20, batch_size=1 << 20)
        for key, value in messages:
            producer.send(sc.settings.topic_openlineage, key=key, value=value)
        producer.flush()
        producer.close()
        stats = sc.run_until_caught_up(timeout_s=900).stats()
        rates.append(stats["events"] / max(stats["busy_seconds"], 1e-9))
    validator = jsonschema.Draft202012Validator(spec(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    sample = [v for _, v in messages[:2000]]
    t = time.perf_counter()
    for value in sample:
        validator.validate(json.loads(value))
    naive_eps = len(sample) / (time.perf_counter() - t)
    return {"eps": median(rates), "naive_eps": naive_eps, "events": len(messages)}


def lineage_graph(datasets: int, reps: int) -> dict[str, Any]:
    """g): bench/lineage.py's graph in a chDB of its own."""
    from bench import lineage
    from zettaledger.sinks.client import connect

    with tempfile.TemporaryDirectory(prefix="zl-bench-lineage-") as tmp:
        client = connect(f"chdb://{Path(tmp) / 'chdb'}")
        try:
            lineage.load(client, datasets)
            return lineage.graph_bench(client, datasets, reps)
        finally:
            client.close()


def main(quick: bool = False) -> int:
    global REPS
    n_c, n_d, n_b, n_a = (300_000, 100_000, 50_000, 300_000) if not quick else (50_000, 20_000, 10_000, 50_000)
    if quick:
        REPS = 1
    started_kafka = not harness.kafka_running()
    if started_kafka:
        harness.kafka("start")
    root = Path(tempfile.mkdtemp(prefix="zl-bench-"))
    try:
        print(f"a) decode-and-aggregate limit, {n_a:,} events")
        a = limit(n_a)
        print(f"   {a:,.0f} events/s")
        print(f"b) naive pipeline, {n_b:,} events x {REPS}")
        b = naive(root, n_b)
        print(f"   {b['eps']:,.0f} events/s, peak RSS {b['rss_mb']:.0f} MB")
        print(f"c) Zettaledger, batched messages, {n_c:,} events x {REPS}")
        c = zettaledger(root, "batched", n_c, 1000)
        print(f"   {c.eps:,.0f} events/s, producer {c.producer_eps:,.0f} events/s, peak RSS {c.rss_mb:.0f} MB")
        print(f"d) Zettaledger, one event per message, {n_d:,} events x {REPS}")
        d = zettaledger(root, "single", n_d, None)
        print(f"   {d.eps:,.0f} events/s, producer {d.producer_eps:,.0f} events/s")
        print(f"e) bare Faust agent (counts messages, nothing else), one event per message, {n_d:,} events x {REPS}")
        e = naive(root, n_d, bare=True)
        print(f"   {e['eps']:,.0f} messages/s: the ceiling for b) and d); d reaches {d.eps / e['eps']:.0%} of it")
        print("latency at half the batched maximum")
        lat = latency(root, c.eps / 2)
        print(f"   offered {lat['offered_eps']:,.0f} events/s: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms")
        print(f"RSS on a stream 10x longer ({10 * n_c:,} events, once)")
        saved = REPS
        REPS = 1
        long = zettaledger(root, "long", 10 * n_c, 1000)
        REPS = saved
        print(f"   peak RSS {long.rss_mb:.0f} MB vs {c.rss_mb:.0f} MB; {long.eps:,.0f} events/s")
        steps = ", ".join(f"{mb:.0f} MB after {share}" for share, mb in long.along.items())
        print(f"   RSS along the long stream: {steps}")
        print(f"ratios: c/b = {c.eps / b['eps']:.1f}, c/a = {c.eps / a:.2f}, d/b = {d.eps / b['eps']:.1f}")
        n_ol = 20_000 if quick else 60_000
        print(f"f) OpenLineage run events through Kafka and the worker, {n_ol:,} runs x {REPS}")
        f = openlineage(root, n_ol // 3)
        print(
            f"   {f['eps']:,.0f} run events/s ({f['events']:,} events); naive json + jsonschema {f['naive_eps']:,.0f}/s in process"
        )
        size = 100_000 if quick else 1_000_000
        print(f"g) lineage graph, {size:,} datasets, {5 * size:,} edges")
        g = lineage_graph(size, 5 if quick else 20)
        print(f"   {g}")
        print("query side: the national report on a ledger of generated events")
        from bench.queries import query_p95_ms

        q = query_p95_ms(root, quick)
        print("resend horizon: a worker restarting with a day of ids in seen_events")
        from bench.horizon import horizon

        h = horizon(root, seeded=1_000_000 if quick else 100_000_000)
        print(
            f"   {h.seeded:,} ids seeded in {h.seed_s:.0f} s; first flush {h.startup_s:.1f} s after start; "
            f"{h.resends_dropped}/{h.resends} resends from {23} h before dropped; "
            f"an old event's lookup {h.lookup_us_per_event:.1f} µs"
        )
        print(
            f"BENCH batched_eps={c.eps:.0f} single_eps={d.eps:.0f} naive_eps={b['eps']:.0f} limit_eps={a:.0f} "
            f"query_p95_ms={q:.1f} rss_mb={c.rss_mb:.0f} single_over_bare={d.eps / e['eps']:.2f} "
            f"startup_s={h.startup_s:.1f} resend_horizon_h={h.horizon_proven_h} "
            f"lineage_upstream_p95_ms={g['lineage_upstream_p95_ms']} lineage_roots_p95_ms={g['lineage_roots_p95_ms']} "
            f"openlineage_eps={f['eps']:.0f} naive_openlineage_eps={f['naive_eps']:.0f}"
        )
    finally:
        harness.cleanup_all()
        if started_kafka:
            harness.kafka("stop")
    return 0


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Throughput of the worker against the naive path and the decode limit, on a broker it starts "
        "on 127.0.0.1:ZL_TEST_KAFKA_PORT (19092) unless one is running there.",
    )
    parser.add_argument("--quick", action="store_true", help="one small run of each part instead of three full ones")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(quick=_args(sys.argv[1:]).quick))
