"""Cases against a running ``zl worker`` on the real broker: crafted Kafka values, one case after another.

Each case sends its hostile messages, then good events under a producer id of its own
(``sec-<case>``), and waits until the worker's ledger holds every offset. It passes when
the worker is still alive (or was restarted once and progressed), every good event is
counted (``lost``), nothing else is (``forged``), and the dead letters of its hostile
offsets carry the expected codes within their caps.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

import harness
from harness import Scenario, WorkerProcess
from tests.raw_enums import written_raw
from tests.security.outcome import Outcome
from zettaledger.producers.producer import Compression, EventProducer
from zettaledger.schemas import EventCodec
from zettaledger.schemas.models import BATCH_FIELD, CollectionRun, DataCreated, Source
from zettaledger.streams.worker import end_offsets

CODEC = EventCodec()
T_2025 = 1_735_689_600_000
GOOD_PER_CASE = 200
MAX_HEADER = 1024
MAX_LETTER = 1024 * 1024


def _created(producer: str, **changes: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_time": T_2025 + 3_600_000,
        "producer_id": producer,
        "source": "AI",
        "region": "CN-GD",
        "organization": "org",
        "dataset_id": f"ds-{uuid.uuid4().hex[:8]}",
        "bytes": 1000,
        "records": 1,
        "parent_dataset_ids": [],
        "derivation": None,
        **changes,
    }


def _batch(events: list[dict[str, Any]]) -> bytes:
    batch: dict[str, Any] = {
        "batch_id": str(uuid.uuid4()),
        "producer_id": "sec",
        "sent_at": T_2025,
        **{f: [] for f in BATCH_FIELD.values()},
    }
    batch["data_created"] = events
    return CODEC.encode("EventBatch", batch)


@dataclass
class Hostile:
    """What a case sends: raw values (and the dead-letter codes each must get), and how (compression)."""

    values: list[tuple[bytes, set[str]]]
    compression: str | None = None
    good_compression: Compression | None = None
    extra_good: list[dict[str, Any]] = field(default_factory=list)  # good events sent before the hostile ones


def _non_utf8(_: str) -> Hostile:
    good = CODEC.encode("DataCreated", _created("a" * 2_500_000))
    return Hostile([(good.replace(b"a" * 2_500_000, b"\xff" * 2_500_000), {"corrupt_body"})])


def _near_limit(_: str) -> Hostile:
    header = CODEC.header("DataCreated")
    value = header + os.urandom(8 * 1024 * 1024 - 4096 - len(header))  # undecodable, just under the topic's limit
    return Hostile([(value, {"corrupt_body", "value_too_large"})])


def _parents(_: str) -> Hostile:
    parents = [format(i, "x") for i in range(1_000_000)]
    return Hostile([(CODEC.encode("DataCreated", _created("sec", parent_dataset_ids=parents)), {"too_many_parents"})])


def _letters_per_message(_: str) -> Hostile:
    return Hostile([(_batch([_created("sec", bytes=-1) for _ in range(5000)]), {"invalid_field", "too_many_dead_letters"})])


def _batch_cap(_: str) -> Hostile:
    return Hostile([(_batch([_created("sec") for _ in range(20_000)]), {"too_many_events"})])


def _registration_id(_: str) -> Hostile:
    registered = {
        "event_id": str(uuid.uuid4()),
        "event_time": T_2025,
        "producer_id": "sec",
        "dataset_id": "ds-reg",
        "owner": "org",
        "region": "CN-GD",
        "bytes": 1,
        "quality_grade": "HIGH",
        "registration_id": "R" * 3_000_000,
        "parent_dataset_ids": [],
    }
    return Hostile([(CODEC.encode("DatasetRegistered", registered), {"id_too_long"})])


def _producer_id(_: str) -> Hostile:
    return Hostile([(CODEC.encode("DataCreated", _created("p" * 100_000)), {"id_too_long"})])


def _region_newline(_: str) -> Hostile:
    return Hostile([(CODEC.encode("DataCreated", _created("sec", region="CN-GD\n")), {"invalid_field"})])


def _event_id_newline(producer: str) -> Hostile:
    first = _created(producer)  # counted once, as a good event
    again = {**first, "event_id": first["event_id"] + "\n"}  # the resend filter must not be bypassed
    return Hostile([(CODEC.encode("DataCreated", again), {"invalid_field"})], extra_good=[first])


def _enum_index(producer: str) -> Hostile:
    """Enum indexes that name no symbol, under the case's own producer id: counted, they would be forged events."""
    registered = {
        "event_id": str(uuid.uuid4()),
        "event_time": T_2025,
        "producer_id": producer,
        "dataset_id": "ds-enum",
        "owner": "org",
        "region": "CN-GD",
        "bytes": 1,
        "quality_grade": -1,
        "registration_id": None,
        "parent_dataset_ids": [],
    }
    batch: dict[str, Any] = {"batch_id": str(uuid.uuid4()), "producer_id": producer, "sent_at": T_2025}
    batch.update({f: [] for f in BATCH_FIELD.values()})
    batch["data_created"] = [_created(producer), _created(producer, derivation=3)]  # one past COPY, the last
    return Hostile(
        [
            (written_raw("DataCreated", _created(producer, source=-1)), {"corrupt_body"}),  # was read as INFERENCE
            (written_raw("DatasetRegistered", registered), {"corrupt_body"}),  # was read as HIGH
            (written_raw("EventBatch", batch), {"corrupt_body"}),
        ]
    )


def _gzip_bomb(_: str) -> Hostile:
    return Hostile([(CODEC.header("DataCreated") + bytes(200 * 1024 * 1024), {"value_too_large"})], compression="gzip")


def _codec(name: Compression) -> Callable[[str], Hostile]:
    def case(_: str) -> Hostile:
        return Hostile([], good_compression=name)

    return case


def _report_text(producer: str) -> Hostile:
    return Hostile([])  # the hostile pipeline id is a good event: see run_worker_cases (zl report at the end)


WORKER_CASES: dict[str, Callable[[str], Hostile]] = {
    "worker_non_utf8_2_5MB": _non_utf8,
    "worker_value_near_8MiB": _near_limit,
    "worker_parents_1e6": _parents,
    "worker_dead_letters_per_message": _letters_per_message,
    "worker_batch_20k_events": _batch_cap,
    "worker_registration_id_3MB": _registration_id,
    "worker_producer_id_100k": _producer_id,
    "worker_region_newline": _region_newline,
    "worker_event_id_newline_resend": _event_id_newline,
    "worker_enum_index_out_of_range": _enum_index,
    "worker_gzip_bomb_200MB": _gzip_bomb,
    "worker_codec_gzip": _codec("gzip"),
    "worker_codec_snappy": _codec("snappy"),
    "worker_codec_lz4": _codec("lz4"),
    "worker_codec_zstd": _codec("zstd"),
    "worker_faust_env_and_views": _codec("gzip"),
    "worker_report_escapes": _report_text,
}

HOSTILE_PIPELINE = "robot\x1b[2J\x1b[H\nTotal  999 ZB"


def _hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Runner:
    """One scenario, one worker (restarted once at most per case), and what each case sent."""

    def __init__(self, root: Path, name: str = "hostile", dlq_max_bytes: int | None = None) -> None:
        self.sc = Scenario(name, root / name, extra_env={"ZL_BATCH_WITHIN_S": "0.5", "ZL_LOG_LEVEL": "error"})
        s = self.sc.settings
        if dlq_max_bytes is not None:  # a dead-letter topic that refuses every letter, even the shortest
            admin = KafkaAdminClient(bootstrap_servers=s.kafka_servers)
            try:
                admin.create_topics(
                    [NewTopic(s.topic_dead_letter, 1, 1, topic_configs={"max.message.bytes": str(dlq_max_bytes)})]
                )
            finally:
                admin.close()
        self.sc.create_topics()
        self.raw: dict[str | None, KafkaProducer] = {}
        self.worker = self._start()
        self.restarts = 0
        self.sent: dict[str, list[tuple[int, int, set[str]]]] = {}  # case -> (partition, offset, codes)
        self.good: dict[str, int] = {}

    def _start(self) -> WorkerProcess:
        # Faust's own variables must not move the web port, turn its views on, or bind beyond loopback
        faust_env = {"WEB_BIND": "0.0.0.0", "WEB_PORT": "1", "APP_WEB_STATS_ENABLED": "true", "APP_DEBUG": "true"}
        worker = self.sc.start_worker(**faust_env)
        worker.wait_ready(120)
        return worker

    def producer(self, compression: str | None) -> KafkaProducer:
        if compression not in self.raw:
            self.raw[compression] = KafkaProducer(
                bootstrap_servers=self.sc.settings.kafka_servers,
                compression_type=compression,
                max_request_size=300 * 1024 * 1024,  # the client's check counts the value before compression
                batch_size=1024 * 1024,
                linger_ms=0,
            )
        return self.raw[compression]

    def send(self, case: str, hostile: Hostile) -> None:
        producer_id = f"sec-{case}"[:200]
        sent = self.sent.setdefault(case, [])
        with EventProducer(self.sc.settings, producer_id, batch_events=50, compression=hostile.good_compression) as good:
            for e in hostile.extra_good:
                good.send(DataCreated(**{**e, "source": Source(e["source"]), "parent_dataset_ids": ()}))
            good.flush()  # counted first: the hostile resend comes after it
            for value, codes in hostile.values:
                meta = self.producer(hostile.compression).send(self.sc.settings.topic_events, value=value, key=b"x").get(120)
                sent.append((meta.partition, meta.offset, codes))
            for i in range(GOOD_PER_CASE):
                good.add(
                    DataCreated(
                        str(uuid.uuid4()), T_2025 + i, producer_id, Source.AI, "CN-GD", "org", f"ds-{case}-{i}", 10, 1, ()
                    )
                )
            if case == "worker_report_escapes":
                good.send(
                    CollectionRun(str(uuid.uuid4()), T_2025, producer_id, HOSTILE_PIPELINE, "CN-GD", "ds-r", 10, 9, 100, 90)
                )
        self.good[case] = GOOD_PER_CASE + len(hostile.extra_good)

    def caught_up(self, timeout_s: float = 180) -> str | None:
        """None once the ledger holds every offset; else why not (the worker restarted once if it died)."""
        ends = {p: o - 1 for p, o in end_offsets(self.sc.settings).items() if o > 0}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.worker.popen.poll() is not None:
                if self.restarts:
                    return f"the worker died twice (exit {self.worker.popen.returncode})"
                self.restarts += 1
                self.worker = self._start()
            health = self.worker.health() or {}
            marks = {int(k.rsplit("[", 1)[1].rstrip("]")): v for k, v in (health.get("written_through") or {}).items()}
            if all(marks.get(p, -1) >= o for p, o in ends.items()):
                return None
            time.sleep(0.3)
        return f"not caught up in {timeout_s}s"

    def stop(self) -> int:
        self.worker.signal(signal.SIGTERM)
        code = self.worker.wait(120)
        for p in self.raw.values():
            p.close()
        return code

    def dead_letters(self) -> dict[tuple[int, int], list[tuple[dict[str, bytes], int]]]:
        s = self.sc.settings
        consumer = KafkaConsumer(
            s.topic_dead_letter,
            bootstrap_servers=s.kafka_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        out: dict[tuple[int, int], list[tuple[dict[str, bytes], int]]] = {}
        try:
            for record in consumer:
                headers = dict(record.headers or [])
                key = (int(headers.get("zl.source.partition", b"-1")), int(headers.get("zl.source.offset", b"-1")))
                out.setdefault(key, []).append((headers, len(record.value or b"")))
        finally:
            consumer.close()
        return out

    def counted(self) -> dict[str, int]:
        """Events counted per producer id (volume cells keep their reporter), and the ledger's undelivered rows."""
        from zettaledger.sinks.client import connect
        from zettaledger.sinks.identifiers import qualified

        s = self.sc.settings
        ledger = qualified(s.clickhouse_database, "ledger")
        client = connect(s.clickhouse_dsn)
        try:
            rows = client.query(
                f"SELECT producer_id, sum(events) FROM {ledger} WHERE kind = 'volume' GROUP BY producer_id "
                f"UNION ALL SELECT 'undelivered', count() FROM {ledger} WHERE kind = 'rejected' AND rejected = 1"
            ).result_rows
        finally:
            client.close()
        return {str(k): int(v) for k, v in rows}


def _web_views(worker: WorkerProcess) -> str | None:
    import urllib.error
    import urllib.request

    for path in ("/router/", "/table/", "/stats/", "/graph/", "/assignment/"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=2).close()
            return f"{path} is served"
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                return f"{path} answered {exc.code}"
    return None


def run_worker_cases(root: Path, names: list[str]) -> list[Outcome]:
    wanted = [n for n in WORKER_CASES if n in names]
    out: list[Outcome] = []
    if wanted:
        out += _run(Runner(root), wanted)
    if "worker_dead_letter_undeliverable" in names:
        out += _undeliverable(root)
    return out


def _run(runner: Runner, wanted: list[str]) -> list[Outcome]:
    problems: dict[str, list[str]] = {}
    notes: dict[str, str] = {}
    crashed: dict[str, int] = {}
    for name in wanted:
        before_restarts = runner.restarts
        hwm_before = _hwm_mb(runner.worker.popen.pid)
        try:
            runner.send(name, WORKER_CASES[name](f"sec-{name}"[:200]))
            late = runner.caught_up()
        except Exception as exc:
            late = f"{type(exc).__name__}: {exc}"[:300]
        problems[name] = [late] if late else []
        crashed[name] = runner.restarts - before_restarts
        if name == "worker_gzip_bomb_200MB":
            peak = _hwm_mb(runner.worker.popen.pid)
            notes[name] = (
                f"200 MB from {len(gzip.compress(bytes(200 * 1024 * 1024)))} B gzip; worker peak RSS {hwm_before:.0f} -> {peak:.0f} MB"
            )
            if peak > 1536:
                problems[name].append(f"peak RSS {peak:.0f} MB over 1.5 GB")
        if name == "worker_faust_env_and_views":
            view = _web_views(runner.worker)
            if view:
                problems[name].append(view)
            notes[name] = "WEB_BIND, WEB_PORT, APP_WEB_STATS_ENABLED ignored; /router /table /stats /graph 404"
    exit_code = runner.stop()
    letters = runner.dead_letters()
    counted = runner.counted()
    report = ""
    if "worker_report_escapes" in wanted:
        report = subprocess.run(
            [sys.executable, "-m", "zettaledger.cli", "report"],
            env=runner.sc.env(),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=harness.REPO_ROOT,
        ).stdout
    out = []
    for name in wanted:
        producer_id = f"sec-{name}"[:200]
        got = counted.get(producer_id, 0)
        lost = max(runner.good.get(name, 0) - got, 0)
        forged = max(got - runner.good.get(name, 0), 0)
        for partition, offset, codes in runner.sent.get(name, []):
            found = letters.get((partition, offset), [])
            seen = {h.get("zl.error.code", b"").decode() for h, _ in found}
            if not seen or not seen <= codes:
                problems[name].append(f"dead letters of @{offset}: {sorted(seen)}, expected {sorted(codes)}")
            if any(len(v) > MAX_HEADER for h, _ in found for v in h.values()):
                problems[name].append("a header over 1 KiB")
            if any(size > MAX_LETTER for _, size in found):
                problems[name].append("a dead letter over 1 MiB")
            notes.setdefault(
                name, f"{len(found)} dead letter(s) {sorted(seen)}, largest {max((s for _, s in found), default=0)} B"
            )
        if name == "worker_report_escapes":
            if "\x1b" in report or "Total  999 ZB" in report.replace("\\x0aTotal  999 ZB", ""):
                problems[name].append("zl report printed the pipeline id raw")
            if "robot\\x1b[2J" not in report:
                problems[name].append("the escaped pipeline id is missing from zl report")
            notes[name] = "pipeline id with ESC and newline printed as robot\\x1b[2J\\x1b[H\\x0aTotal..."
        if exit_code != 0 and name == wanted[-1]:
            problems[name].append(f"the worker exited {exit_code} on SIGTERM")
        outcome = Outcome(
            name,
            passed=not problems[name] and not lost and not forged and crashed[name] <= 1,
            crashes=crashed[name],
            forged_writes=forged,
            lost=lost,
            detail="; ".join(problems[name]) or notes.get(name, f"{got} good events counted"),
        )
        out.append(outcome)
        print(outcome.line(), flush=True)
    return out


def _undeliverable(root: Path) -> list[Outcome]:
    """A dead-letter topic that refuses even the shortest letter: recorded in the ledger, never a crash loop."""
    runner = Runner(root, "undeliverable", dlq_max_bytes=128)
    name = "worker_dead_letter_undeliverable"
    problems = []
    try:
        runner.send(name, Hostile([(b"not an event at all", set())]))
        late = runner.caught_up()
        if late:
            problems.append(late)
    except Exception as exc:
        problems.append(f"{type(exc).__name__}: {exc}"[:300])
    crashes = runner.restarts
    runner.stop()
    counted = runner.counted()
    got = counted.get(f"sec-{name}", 0)
    if counted.get("undelivered", 0) != 1:
        problems.append(f"{counted.get('undelivered', 0)} undelivered rows in the ledger, expected 1")
    outcome = Outcome(
        name,
        passed=not problems and got == GOOD_PER_CASE and crashes == 0,
        crashes=crashes,
        forged_writes=max(got - GOOD_PER_CASE, 0),
        lost=max(GOOD_PER_CASE - got, 0),
        detail="; ".join(problems) or "refused by the broker in every form: recorded as a ledger row, the flush went on",
    )
    print(outcome.line(), flush=True)
    return [outcome]
