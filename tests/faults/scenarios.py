"""The fault scenarios. Each builds its own topic, group and database, injects its
fault into the real broker, worker or sink, and checks the ledger against the truth
read back from the input topic."""

from __future__ import annotations

import dataclasses
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

import harness
from harness import Scenario
from tests.faults import lineage
from tests.faults.compare import Comparison, compare, read_ledger, summary_line
from tests.faults.events import T_2025, fault_events
from tests.faults.truth import Truth, count, read_topic
from zettaledger.producers.producer import EventProducer
from zettaledger.schemas import EventCodec
from zettaledger.sinks.remote import RemoteLedger
from zettaledger.streams.worker import end_offsets

LATEST_MS = 1_900_000_000_000


@dataclass
class Result:
    name: str
    comparison: Comparison
    extra: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.comparison.exact and not self.problems

    def line(self) -> str:
        verdict = "exact" if self.ok else "OFF " + "; ".join(self.problems or ["totals differ"])
        return summary_line(self.name, self.comparison, {**self.extra, "seconds": f"{self.seconds:.1f}"}) + f" -> {verdict}"


def _verify(sc: Scenario, counted_again: set[str] | None = None) -> tuple[Comparison, Truth, Any]:
    s = sc.settings
    truth = count(read_topic(s.kafka_servers, s.topic_events), LATEST_MS, s.lateness_hours * 3_600_000, counted_again)
    ledger = read_ledger(s.clickhouse_dsn, s.clickhouse_database, s.topic_events)
    return compare(truth, ledger), truth, ledger


def _in_thread(fn: Callable[[], Any]) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def baseline(root: Path, n: int = 100_000) -> Result:
    sc = Scenario("baseline", root / "baseline")
    sc.create_topics()
    sc.produce(fault_events(n, seed=1))
    lineage.produce_openlineage(sc.settings, n // 50, seed=1)  # OpenLineage traffic mixed in, on its own topic
    worker = sc.run_until_caught_up()
    comparison, truth, ledger = _verify(sc)
    stats = worker.stats()
    ol, problems = lineage.check(sc.settings)
    return Result(
        "baseline",
        comparison,
        {
            "events": truth.events,
            "dedup_hits": ledger.duplicates,
            "eps": int(truth.events / max(stats.get("seconds", 1), 1e-9)),
            **ol,
        },
        problems,
    )


def replay(root: Path, n: int = 50_000) -> Result:
    """Scenario 11: the whole topic again from the earliest offset, by a new group into a fresh database."""
    sc = Scenario("replay", root / "replay")
    sc.create_topics()
    sc.produce(fault_events(n, seed=12))
    lineage.produce_openlineage(sc.settings, n // 50, seed=12)
    sc.run_until_caught_up()
    first = read_ledger(sc.settings.clickhouse_dsn, sc.settings.clickhouse_database, sc.settings.topic_events)
    replay_database = sc.settings.clickhouse_database + "_replay"
    sc.run_until_caught_up(ZL_APP_ID=sc.settings.app_id + "-replay", ZL_CLICKHOUSE_DATABASE=replay_database)
    second = read_ledger(sc.settings.clickhouse_dsn, replay_database, sc.settings.topic_events)
    comparison, truth, _ = _verify(sc)
    differing = sum(1 for cell in set(first.cells) | set(second.cells) if first.cells.get(cell) != second.cells.get(cell))
    problems = [f"{differing} cells differ between the first pass and the replay"] if differing else []
    ol, ol_problems = lineage.check(sc.settings)
    _, replay_problems = lineage.check(sc.settings, replay_database)
    problems += ol_problems + [f"replay: {p}" for p in replay_problems]
    return Result(
        "replay",
        comparison,
        {"events": truth.events, "cells_identical": f"{len(first.cells) - differing}/{len(first.cells)}", **ol},
        problems,
    )


def kills(root: Path, n: int = 60_000, kills_n: int = 10) -> Result:
    sc = Scenario("sigkill", root / "sigkill", extra_env={"ZL_BATCH_MAX_MESSAGES": "5"})
    sc.create_topics()
    rng = random.Random(11)
    producer = _in_thread(lambda: sc.produce(fault_events(n, seed=2), batch=50))
    ol_producer = _in_thread(lambda: lineage.produce_openlineage(sc.settings, n // 50, seed=2))
    recoveries = []
    problems = []
    for _ in range(kills_n):
        w = sc.start_worker()
        recoveries.append(w.wait_ready())
        time.sleep(rng.uniform(0.2, 1.5))
        w.signal(signal.SIGKILL)
        w.wait()
    w = sc.start_worker()
    recoveries.append(w.wait_ready())
    time.sleep(rng.uniform(0.2, 1.0))
    w.signal(signal.SIGTERM)
    if w.wait() != 0:
        problems.append(f"SIGTERM exit code {w.popen.returncode}; the worker's log ends:\n{w.log_tail()}")
    producer.join()
    ol_producer.join()
    sc.run_until_caught_up()
    comparison, truth, _ledger = _verify(sc)
    ol, ol_problems = lineage.check(sc.settings)
    problems += ol_problems
    return Result(
        "sigkill",
        comparison,
        {
            **ol,
            "events": truth.events,
            "kills": kills_n,
            "sigterm": 1,
            "recovery_s_median": f"{statistics.median(recoveries):.1f}",
            "recovery_s_max": f"{max(recoveries):.1f}",
        },
        problems,
    )


def failpoints(root: Path, n: int = 30_000) -> Result:
    sc = Scenario("failpoints", root / "failpoints", extra_env={"ZL_BATCH_MAX_MESSAGES": "5"})
    sc.create_topics()
    sc.produce(fault_events(n, seed=3), batch=50)
    crashed = []
    # Small takes (5 messages) and many kills, several of them while the ledger insert (and its rollups,
    # projections written inside the same part) is under way: the views must come out exact.
    specs = (
        "after_ledger_insert=kill@3",
        "during_ledger_insert=kill@2",
        "during_ledger_insert=kill@3",
        "during_ledger_insert=kill@5",
        "during_ledger_insert=kill@8",
        "between_inserts=kill@2",
        "after_commit=kill@3",
    )
    for spec in specs:
        w = sc.start_worker(ZL_FAILPOINTS=spec)
        code = w.wait(120)
        crashed.append(f"{spec.split('=')[0]}:{'killed' if code == -signal.SIGKILL else code}")
    sc.run_until_caught_up()
    comparison, truth, _ledger = _verify(sc)
    problems = [c for c in crashed if not c.endswith("killed")]
    return Result("failpoints", comparison, {"events": truth.events, "crashes": len(crashed) - len(problems)}, problems)


def broker(root: Path, n: int = 60_000) -> Result:
    """Scenario 4: broker kill -9 twice and one graceful restart while producing and processing."""
    sc = Scenario("broker", root / "broker", extra_env={"ZL_BATCH_MAX_MESSAGES": "20"})
    sc.create_topics()
    errors: list[BaseException] = []

    def slow_produce() -> None:
        # One long-lived idempotent producer, as a real producer runs: it rides out the
        # broker's absence with retries, and its sequence numbers prevent duplicates.
        try:
            events = list(fault_events(n, seed=4))
            with EventProducer(
                sc.settings,
                "faults-broker",
                batch_events=50,
                check_events=False,
                delivery_timeout_ms=180_000,
                request_timeout_ms=10_000,
            ) as producer:
                for i in range(0, n, 2_000):
                    for e in events[i : i + 2_000]:
                        producer.add(e)
                    time.sleep(0.4)
        except BaseException as exc:
            errors.append(exc)

    producer = _in_thread(slow_produce)
    worker = sc.start_worker()
    worker.wait_ready()
    restarts = 0
    t0 = time.monotonic()
    plan = [("kill", 3.0), ("start", 5.0), ("kill", 8.0), ("start", 10.0), ("stop", 12.0), ("start", 14.0), ("", 16.0)]
    for action, at in plan:
        while time.monotonic() - t0 < at or (not action and producer.is_alive() and time.monotonic() - t0 < 240):
            if worker.popen.poll() is not None:  # the supervisor's job, as Kubernetes restarts a pod
                restarts += 1
                worker = sc.start_worker()
            time.sleep(0.1)
        if action:
            harness.kafka(action)
    producer.join(timeout=60)
    worker.signal(signal.SIGTERM)
    worker.wait()
    sc.run_until_caught_up()
    comparison, truth, _ = _verify(sc)
    problems = [f"producer failed: {e!r}"[:200] for e in errors]
    if truth.duplicate_ids_on_topic:
        problems.append(f"{truth.duplicate_ids_on_topic} duplicate event ids on the input topic")
    return Result(
        "broker",
        comparison,
        {
            "events": truth.events,
            "broker_kills": 2,
            "graceful_restarts": 1,
            "input_duplicate_ids": truth.duplicate_ids_on_topic,
            "worker_restarts": restarts,
        },
        problems,
    )


def _committed(sc: Scenario) -> int:
    admin = KafkaAdminClient(bootstrap_servers=sc.settings.kafka_servers)
    try:
        offsets = admin.list_group_offsets(sc.settings.app_id).get(sc.settings.app_id, {})
        return sum(max(meta.offset, 0) for meta in offsets.values())
    finally:
        admin.close()


def clickhouse_down(root: Path, n: int = 100_000, outage_s: int = 20) -> Result:
    sc = Scenario("ch_down", root / "ch_down", extra_env={"ZL_BATCH_MAX_MESSAGES": "50"})
    sc.create_topics()
    sc.produce(fault_events(5_000, seed=50))
    worker = sc.start_worker(ZL_FAILPOINTS=f"sink_down=for:{outage_s}")
    worker.wait_ready()
    time.sleep(1.0)
    committed_at_start = _committed(sc)
    producer = _in_thread(lambda: sc.produce(fault_events(n, seed=5, start_ms=T_2025 + 61 * 86_400_000)))
    rss = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < outage_s - 3:
        rss.append(worker.rss_mb())
        time.sleep(0.5)
    committed_late_in_outage = _committed(sc)
    producer.join()
    drain_started = time.monotonic()
    target = sum(o - 1 for o in end_offsets(sc.settings).values() if o > 0)
    while worker.written() < target and time.monotonic() - drain_started < 180:
        if worker.popen.poll() is not None:
            return Result(
                "ch_down", Comparison(0, 0, 0, 0, 0, 0), problems=[f"worker exited {worker.popen.returncode} during the outage"]
            )
        rss.append(worker.rss_mb())
        time.sleep(0.5)
    drain_s = time.monotonic() - drain_started
    worker.signal(signal.SIGTERM)
    worker.wait()
    comparison, truth, _ledger = _verify(sc)
    problems = []
    if committed_late_in_outage > committed_at_start:
        problems.append(f"offsets committed during the outage ({committed_at_start} -> {committed_late_in_outage})")
    return Result(
        "ch_down",
        comparison,
        {
            "events": truth.events,
            "outage_s": outage_s,
            "committed_moved": committed_late_in_outage - committed_at_start,
            "drain_s": f"{drain_s:.1f}",
            "rss_mb_start": f"{rss[0]:.0f}",
            "rss_mb_peak": f"{max(rss):.0f}",
        },
        problems,
    )


def ambiguous(root: Path, n: int = 50_000) -> Result:
    sc = Scenario("ambiguous", root / "ambiguous", extra_env={"ZL_BATCH_MAX_MESSAGES": "2"})
    sc.create_topics()
    sc.produce(fault_events(n, seed=6))
    stats = sc.run_until_caught_up(ZL_FAILPOINTS="ambiguous_ack=rate:0.1").stats()
    comparison, truth, _ledger = _verify(sc)
    injected = int(stats.get("injected", {}).get("ambiguous_ack", 0))
    found = int(stats.get("ambiguous_writes_found_stored", -1))
    problems = [] if injected == found and injected > 0 else [f"injected {injected} ambiguous acks, recognised {found}"]
    return Result(
        "ambiguous",
        comparison,
        {"events": truth.events, "flushes": stats.get("flushes"), "injected": injected, "dedup_hits": found},
        problems,
    )


def duplicates(root: Path, n: int = 50_000) -> Result:
    sc = Scenario("duplicates", root / "duplicates")
    sc.create_topics()
    events = list(fault_events(n, seed=7))
    rng = random.Random(7)
    resent = rng.sample(events, n // 10)
    sc.produce(events + resent[: len(resent) // 2])
    sc.produce(resent[len(resent) // 2 :], batch=1)  # resends at new offsets, some one per message
    sc.run_until_caught_up()
    hour_later = rng.sample(events, n // 50)  # resent 23 h after the original (the worker's clock runs ahead)
    sc.produce(hour_later)
    sc.run_until_caught_up(ZL_FAILPOINTS=f"clock_offset={23 * 3600}")
    beyond = rng.sample(events, 100)
    sc.produce(beyond)
    sc.run_until_caught_up(ZL_FAILPOINTS=f"clock_offset={25 * 3600}")
    comparison, truth, ledger = _verify(sc, counted_again={e.event_id for e in beyond})
    expected_hits = len(resent) + len(hour_later)
    problems = [] if ledger.duplicates == expected_hits else [f"dedup hits {ledger.duplicates} != resends {expected_hits}"]
    return Result(
        "duplicates",
        comparison,
        {
            "events": truth.events,
            "resent": len(resent),
            "resent_23h_later": len(hour_later),
            "dedup_hits": ledger.duplicates,
            "beyond_horizon_counted_again": len(beyond),
        },
        problems,
    )


def poison(root: Path, n: int = 50_000) -> Result:
    sc = Scenario("poison", root / "poison")
    sc.create_topics()
    codec = EventCodec()
    rng = random.Random(8)
    raw = KafkaProducer(bootstrap_servers=sc.settings.kafka_servers, max_request_size=8 * 1024 * 1024)
    kinds = {"bad_bytes": 0, "unknown_schema": 0, "negative_bytes": 0, "missing_region": 0, "oversize_2mb": 0}
    valid = list(fault_events(n, seed=9))
    producer = EventProducer(sc.settings, "faults-poison", batch_events=100, check_events=False)
    for i in range(0, n, 100):
        for e in valid[i : i + 100]:
            producer.add(e)
        producer.flush()
        kind = list(kinds)[(i // 100) % 5]
        if kind == "oversize_2mb" and kinds[kind] >= 10:
            kind = "bad_bytes"
        kinds[kind] += 1
        base = {
            "event_id": f"00000000-0000-4000-8000-{i:012d}",
            "event_time": 1_735_689_600_000,
            "producer_id": "poison",
            "source": "AI",
            "region": "CN-GD",
            "organization": "o",
            "dataset_id": "ds-poison",
            "bytes": 5,
            "records": 1,
            "parent_dataset_ids": [],
        }
        value = {
            "bad_bytes": bytes(rng.randrange(256) for _ in range(64)),
            "unknown_schema": b"\xc3\x01" + rng.getrandbits(64).to_bytes(8, "little") + b"\x02",
            "negative_bytes": codec.encode("DataCreated", {**base, "bytes": -5}),
            "missing_region": codec.encode("DataCreated", {**base, "region": ""}),
            "oversize_2mb": b"\xc3\x01" + b"\x00" * (2 * 1024 * 1024),
        }[kind]
        raw.send(sc.settings.topic_events, value=value, key=b"ds-poison")
    raw.flush()
    raw.close()
    producer.close()
    worker = sc.run_until_caught_up()
    comparison, truth, _ledger = _verify(sc)
    poison_total = sum(kinds.values())
    letters = _dead_letters(sc, poison_total)
    problems = []
    if len(letters) != poison_total:
        problems.append(f"{len(letters)} dead letters for {poison_total} poison messages")
    if any(not h.get("zl.error.reason") for h in letters):
        problems.append("a dead letter without a reason")
    codes: dict[str, int] = {}
    for h in letters:
        codes[h.get("zl.error.code", "?")] = codes.get(h.get("zl.error.code", "?"), 0) + 1
    return Result(
        "poison",
        comparison,
        {
            "events": truth.events,
            "poison": poison_total,
            "dead_letters": len(letters),
            "codes": ",".join(f"{k}:{v}" for k, v in sorted(codes.items())),
            "worker_restarts": 0,
            "worker_exit": worker.popen.returncode,
        },
        problems,
    )


def _dead_letters(sc: Scenario, expected: int) -> list[dict[str, str]]:
    consumer = KafkaConsumer(
        sc.settings.topic_dead_letter,
        bootstrap_servers=sc.settings.kafka_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    out = []
    try:
        for record in consumer:
            out.append({k: v.decode() for k, v in record.headers})
            if len(out) >= expected:
                break
    finally:
        consumer.close()
    return out


def late(root: Path, n: int = 50_000) -> Result:
    sc = Scenario("late", root / "late")
    sc.create_topics()
    rng = random.Random(10)
    events = []
    hour = 3_600_000
    for e in fault_events(n, seed=11, spread_days=120):
        roll = rng.random()
        if roll < 0.05:  # late, within the limit: an ordinary event of an earlier day
            e = dataclasses.replace(e, event_time=e.event_time - rng.randrange(1, 47 * hour))
        elif roll < 0.06:  # beyond the 48 h limit: still counted in its day, as an adjustment
            e = dataclasses.replace(e, event_time=e.event_time - rng.randrange(50 * hour, 96 * hour))
        events.append(e)
    sc.produce(events)
    sc.run_until_caught_up()
    comparison, truth, ledger = _verify(sc)
    problems = [] if ledger.adjustments == truth.late else [f"{ledger.adjustments} adjustment events, expected {truth.late}"]
    return Result(
        "late",
        comparison,
        {
            "events": truth.events,
            "beyond_lateness_limit": truth.late,
            "adjustments": ledger.adjustments,
            "silent_drops": comparison.lost,
        },
        problems,
    )


def rebalance(root: Path, n: int = 60_000) -> Result:
    """Scenario 10: two workers, one joining and leaving 6 times, one frozen past its session timeout.

    Both write through a ledger host (one process owns the chDB directory); the
    frozen worker's writes when it wakes up are refused by the overlap check, or
    fenced by the storage (see the zombie scenario). OpenLineage traffic is mixed in:
    its feed is a consumer group of its own, which rebalances with the same churn.
    """
    sc = Scenario("rebalance", root / "rebalance", extra_env={"ZL_BATCH_MAX_MESSAGES": "10"})
    sc.create_topics()
    port = harness.next_web_port()
    host_log = sc.root / "ledger-host.log"
    sc.root.mkdir(parents=True, exist_ok=True)
    host = subprocess.Popen(
        [sys.executable, "-m", "zettaledger.cli", "ledger-host", "--port", str(port)],
        env=sc.env(),
        stdout=host_log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=harness.REPO_ROOT,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        url = f"ledger+http://127.0.0.1:{port}"
        errors: list[BaseException] = []

        def slow_produce() -> None:
            try:
                events = list(fault_events(n, seed=13))
                with EventProducer(sc.settings, "faults-rebalance", batch_events=50, check_events=False) as producer:
                    for i in range(0, n, 2_000):
                        for e in events[i : i + 2_000]:
                            producer.add(e)
                        producer.flush()
                        time.sleep(0.6)
            except BaseException as exc:
                errors.append(exc)

        producer = _in_thread(slow_produce)
        ol_producer = _in_thread(lambda: lineage.produce_openlineage(sc.settings, n // 50, seed=13))
        steady = sc.start_worker(ZL_CLICKHOUSE_URL=url)
        steady.wait_ready()
        churned = []
        for _ in range(6):  # join, work a little, leave
            w = sc.start_worker(ZL_CLICKHOUSE_URL=url)
            w.wait_ready()
            time.sleep(1.5)
            w.signal(signal.SIGTERM)
            w.wait()
            churned.append(w)
        other = sc.start_worker(ZL_CLICKHOUSE_URL=url)
        other.wait_ready()
        time.sleep(1.0)
        steady.signal(signal.SIGSTOP)  # frozen past the 6 s session timeout: its partitions move
        time.sleep(10)
        steady.signal(signal.SIGCONT)
        producer.join(timeout=240)
        ol_producer.join(timeout=240)
        ends = end_offsets(sc.settings)
        ol_ends = end_offsets(sc.settings, sc.settings.topic_openlineage)
        deadline = time.monotonic() + 180
        ledger = RemoteLedger(  # with the host's token, as a worker reads it
            f"http://127.0.0.1:{port}", sc.settings.clickhouse_database, token_file=sc.settings.ledger_host_token_path
        )
        while time.monotonic() < deadline:
            marks = ledger.watermarks(sc.settings.topic_events)
            ol_marks = ledger.watermarks(sc.settings.topic_openlineage)
            if all(marks.get(p, -1) >= o - 1 for p, o in ends.items() if o > 0) and all(
                ol_marks.get(p, -1) >= o - 1 for p, o in ol_ends.items() if o > 0
            ):
                break
            for w in (steady, other):
                if w.popen.poll() is not None:  # a supervisor restarts a worker that exited
                    errors.append(RuntimeError(f"worker exited {w.popen.returncode}"))
            time.sleep(0.5)
        for w in (steady, other):
            w.signal(signal.SIGTERM)
            w.wait()
    finally:
        host.send_signal(signal.SIGTERM)
        host.wait(timeout=60)
    comparison, truth, _ = _verify(sc)
    conflicts = sum(int(w.stats().get("conflicts", 0)) for w in [steady, other, *churned])
    fenced = sum(int(w.stats().get("fenced_flushes", 0)) for w in [steady, other, *churned])
    problems = [f"{e!r}"[:200] for e in errors]
    ol, ol_problems = lineage.check(sc.settings)
    return Result(
        "rebalance",
        comparison,
        {
            "events": truth.events,
            **ol,
            "joins_leaves": 6,
            "sigstop_s": 10,
            "conflicts": conflicts,
            "fenced_flushes": fenced,
        },
        problems + ol_problems,
    )


def zombie(root: Path, n: int = 20_000, rounds: int = 2) -> Result:
    """A zombie writer caught inside the window between the overlap check and its insert, on purpose.

    The ledger host pauses one write 20 s after its overlap check (failpoint
    ``before_insert``). The worker that sent it is frozen (SIGSTOP), loses its
    partition, and a second worker takes it over and writes the same offsets
    from the same start. When the paused write goes on, its insert carries the same
    token as the second worker's, and ClickHouse keeps only one: the first worker
    finds its flush fenced (``fenced_flushes``) and counts only what is missing.
    The overlap check alone could not stop it: it had passed before the other write.

    Why the race is reached every time, not by luck:

    - The pause is the zombie's Nth *write* (``FailpointStore`` counts writes, not
      setup's inserts into schema_migrations), so it always holds a flush.
    - The second worker starts where the zombie's flush starts: it begins after the
      ledger's watermark, which the paused flush has not moved, so both flushes carry
      the token of (topic, partition, that offset).
    - The two flushes end at different offsets, so the zombie can see that the kept
      insert is not its own (the read-back compares where its segment ends). One
      partition, so a take is one slice: the zombie takes 10 messages (all were produced
      beforehand, so its takes are full), the second worker at most 3. Two flushes of
      the same offsets would be refused just the same, but the loser could not tell.
    - The second worker writes within the pause: it joins as soon as the zombie is
      frozen, gets the partition when the zombie's 6 s session expires, and flushes
      at once; the pause lasts 20 s.
    """
    comparisons: list[Comparison] = []
    fenced = 0
    problems: list[str] = []
    events = 0
    for round_ in range(rounds):
        env = {"ZL_BATCH_MAX_MESSAGES": "10", "ZL_SESSION_TIMEOUT_S": "6", "ZL_TOPIC_PARTITIONS": "1"}
        sc = Scenario(f"zombie{round_}", root / f"zombie{round_}", extra_env=env)
        sc.create_topics()
        sc.produce(fault_events(n, seed=20 + round_), batch=50)
        port = harness.next_web_port()
        host_log = sc.root / "ledger-host.log"
        sc.root.mkdir(parents=True, exist_ok=True)
        host = subprocess.Popen(
            [sys.executable, "-m", "zettaledger.cli", "ledger-host", "--port", str(port)],
            env={**sc.env(), "ZL_FAILPOINTS": f"before_insert=pause:20@{6 + 3 * round_}"},
            stdout=host_log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=harness.REPO_ROOT,
        )
        workers: list[harness.WorkerProcess] = []
        try:
            _wait_http(f"http://127.0.0.1:{port}/healthz")
            url = f"ledger+http://127.0.0.1:{port}"
            first = sc.start_worker(ZL_CLICKHOUSE_URL=url)
            workers.append(first)
            deadline = time.monotonic() + 120
            while b"failpoint before_insert: pausing" not in host_log.read_bytes():
                if host.poll() is not None:
                    raise RuntimeError(f"the ledger host exited {host.returncode}: see {host_log}")
                if time.monotonic() > deadline:
                    raise RuntimeError("the paused write never came")
                time.sleep(0.05)
            first.signal(signal.SIGSTOP)  # the zombie, inside the window: checked, not yet inserted
            second = sc.start_worker(ZL_CLICKHOUSE_URL=url, ZL_BATCH_MAX_MESSAGES="3")  # ends its flush first
            workers.append(second)
            time.sleep(24)  # the pause ends: the zombie's insert goes on, after the second worker's
            first.signal(signal.SIGCONT)
            ends = end_offsets(sc.settings)
            deadline = time.monotonic() + 180
            ledger = RemoteLedger(  # with the host's token, as a worker reads it
                f"http://127.0.0.1:{port}", sc.settings.clickhouse_database, token_file=sc.settings.ledger_host_token_path
            )
            while time.monotonic() < deadline:
                marks = ledger.watermarks(sc.settings.topic_events)
                if all(marks.get(p, -1) >= o - 1 for p, o in ends.items() if o > 0):
                    break
                time.sleep(0.5)
            for w in workers:
                w.signal(signal.SIGTERM)
                w.wait()
        finally:
            host.send_signal(signal.SIGTERM)
            host.wait(timeout=60)
        comparison, truth, _ = _verify(sc)
        comparisons.append(comparison)
        events += truth.events
        fenced += sum(int(w.stats().get("fenced_flushes", 0)) for w in workers)
    if fenced == 0:
        problems.append("no flush was fenced: the race was not reached")
    total = Comparison(
        sum(c.expected_cells for c in comparisons),
        sum(c.exact_cells for c in comparisons),
        sum(c.lost for c in comparisons),
        sum(c.duplicated for c in comparisons),
        sum(c.gaps for c in comparisons),
        sum(c.overlaps for c in comparisons),
        sum(c.rollup_problems for c in comparisons),
        sum(c.view_diffs for c in comparisons),
    )
    return Result("zombie", total, {"events": events, "rounds": rounds, "fenced_flushes": fenced}, problems)


def _wait_http(url: str, timeout_s: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout_s}s")
