"""``zl``: the command line for producers, operators and statisticians.

    zl topics                 create the Kafka topics (explicit partitions)
    zl migrate                create or upgrade the ClickHouse tables and views (--grants: and the roles)
    zl grants                 print the ClickHouse roles zettaledger_ddl, _writer and _reader with their grants
    zl produce FILE|-         send JSON-lines events (one object per line, with "type")
    zl generate               send the calibrated national stream (progress bar)
    zl worker                 run the ingest worker (--until-caught-up to stop when done)
    zl report                 print the national data accounts table (--html charts, --as-of a vintage, --manifest flags)
    zl publish / zl close     freeze a period's figures into a vintage (provisional, then final)
    zl revisions              the revisions triangle of a period, with each change's cause
    zl export                 a national dataflow as SDMX-CSV 2.0, CSV or Parquet, from the vintages
    zl sql                    one read-only SELECT on the ledger, as TSV or JSON
    zl rollups check|rebuild  compare the report's rollups with the ledger, or rebuild them from it
    zl ledger-host            own a chDB directory and serve the ledger to several local workers
    zl dead-letters [replay]  show dead-lettered events with their reasons, or replay them once the cause is fixed
    zl lineage upstream|downstream|impact DATASET, zl lineage roots --year Y   walk the lineage graph

Settings come from ZL_* environment variables (see README).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zettaledger.errors import ZettaledgerError
from zettaledger.settings import Settings

__all__ = ["main"]


def _settings() -> Settings:
    return Settings.from_env()


def cmd_topics(args: argparse.Namespace) -> int:
    from zettaledger.producers.topics import ensure_topics

    s = _settings()
    created = ensure_topics(s)
    print(
        f"topics ready on {s.kafka_bootstrap}: {s.topic_events}, {s.topic_openlineage}, {s.topic_dead_letter}"
        + (f" (created {', '.join(created)})" if created else " (already there)")
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from zettaledger.sinks.client import connect, execute
    from zettaledger.sinks.grants import ROLES, grant_statements
    from zettaledger.sinks.writer import migrate

    s = _settings()
    client = connect(s.clickhouse_dsn)
    applied = migrate(client, s.clickhouse_database, s.clickhouse_cluster or None, s.dedup_horizon_hours)
    print(f"ClickHouse schema of {s.clickhouse_database} is current" + (f" (applied steps {applied})" if applied else ""))
    if args.grants:
        if s.clickhouse_dsn.startswith("chdb:"):
            print("roles not applied: chDB (embedded) has no access control; `zl grants` prints them for a server")
        else:
            execute(client, grant_statements(s.clickhouse_database, s.clickhouse_cluster or None))
            print(f"roles {', '.join(ROLES)} granted on {s.clickhouse_database}; grant them to users with GRANT <role> TO <user>")
    return 0


def cmd_grants(args: argparse.Namespace) -> int:
    from zettaledger.sinks.grants import grant_statements

    s = _settings()
    for statement in grant_statements(s.clickhouse_database, s.clickhouse_cluster or None):
        print(statement + ";")
    return 0


def _event_from_json(obj: dict[str, Any]) -> Any:
    from zettaledger.schemas import models

    kinds = {
        "DataCreated": models.DataCreated,
        "TokenUsage": models.TokenUsage,
        "DatasetRegistered": models.DatasetRegistered,
        "CollectionRun": models.CollectionRun,
    }
    kind = obj.pop("type", None)
    if kind not in kinds:
        raise ValueError(f'"type" must be one of {", ".join(kinds)}, not {kind!r}')
    obj.setdefault("event_id", models.new_event_id())
    if "parent_dataset_ids" in obj:
        obj["parent_dataset_ids"] = tuple(obj["parent_dataset_ids"])
    if kind == "DataCreated":
        obj["source"] = models.Source(obj["source"])
    if kind == "DatasetRegistered":
        obj["quality_grade"] = models.QualityGrade(obj.get("quality_grade", "UNGRADED"))
    return kinds[kind](**obj)


def cmd_produce(args: argparse.Namespace) -> int:
    from zettaledger.producers.producer import EventProducer
    from zettaledger.schemas.validation import EventRejected

    s = _settings()
    stream = sys.stdin if args.file == "-" else Path(args.file).open()  # noqa: SIM115 - closed below
    rejected = 0
    with stream, EventProducer(s, args.producer_id, batch_events=args.batch, compression=args.compression) as producer:
        for line_no, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                event = _event_from_json(json.loads(line))
                producer.send(event) if args.single else producer.add(event)
            except (ValueError, TypeError, KeyError, EventRejected) as exc:
                rejected += 1
                print(f"line {line_no}: rejected: {exc}", file=sys.stderr)
    sent = producer.sent_events  # read after close: the last batches go out on close
    print(f"sent {sent} events to {s.topic_events}; rejected {rejected}")
    return 1 if rejected else 0


def cmd_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from zettaledger.producers.generator import generate
    from zettaledger.producers.producer import EventProducer

    s = _settings()
    national = generate(size=args.size, seed=args.seed)
    started = time.perf_counter()
    with (
        EventProducer(
            s, "zl-national-generator", batch_events=args.batch, check_events=False, compression=args.compression
        ) as producer,
        tqdm(total=len(national), unit="ev", unit_scale=True, desc="producing", disable=args.quiet) as bar,
    ):
        pending = 0
        for event in national:
            producer.add(event)
            pending += 1
            if pending == 10_000:
                bar.update(pending)
                pending = 0
        bar.update(pending)
    sent = producer.sent_events  # read after close: the last batches go out on close
    elapsed = time.perf_counter() - started
    if args.manifest:
        Path(args.manifest).parent.mkdir(parents=True, exist_ok=True)
        Path(args.manifest).write_text(json.dumps(national.manifest.to_json(), indent=1))
    print(f"produced {sent:,} events in {elapsed:.1f}s ({sent / max(elapsed, 1e-9):,.0f} events/s) to {s.topic_events}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from zettaledger.kafka_security import KafkaSecurity
    from zettaledger.streams.worker import run_worker
    from zettaledger.telemetry import configure, peak_rss_mb

    s = _settings()
    # A login the broker refuses, or a missing ACL, stops the worker here with a message;
    # otherwise it would wait for partitions that never come.
    KafkaSecurity.from_settings(s).check_access(
        s.kafka_servers,
        [s.topic_events, s.topic_openlineage, s.topic_dead_letter],
        [s.app_id, s.openlineage_group],
        "access check",
    )
    configure(s.otel_exporter, "zettaledger-worker")
    started = time.perf_counter()
    stats = run_worker(s, until_caught_up=args.until_caught_up)
    elapsed = time.perf_counter() - started
    rss_peak_mb = peak_rss_mb()
    summary = {
        **stats.summary(),
        "seconds": round(elapsed, 3),
        "rss_peak_mb": round(rss_peak_mb, 1),
    }
    print("ZL-WORKER-STATS " + json.dumps(summary), file=sys.stderr)
    if args.until_caught_up:
        print(f"worker caught up in {elapsed:.1f}s: {stats.events:,} events in {stats.flushes:,} flushes")
    return 0


def cmd_ledger_host(args: argparse.Namespace) -> int:
    from zettaledger.failpoints import Failpoints
    from zettaledger.sinks.host import is_loopback, serve

    s = _settings()
    if not s.clickhouse_dsn.startswith("chdb:"):
        print(
            "zl ledger-host serves an embedded chDB directory; with a ClickHouse server, point workers at it directly",
            file=sys.stderr,
        )
        return 2
    if not is_loopback(args.bind) and not s.ledger_host_tls_certfile:
        print(
            f"zl ledger-host: --bind {args.bind} is beyond loopback: that needs TLS (ZL_LEDGER_HOST_TLS_CERTFILE, "
            "ZL_LEDGER_HOST_TLS_KEYFILE) besides the token, which would otherwise travel in clear; "
            "bind 127.0.0.1 (the default) for workers on this machine",
            file=sys.stderr,
        )
        return 2
    scheme = "ledger+https" if s.ledger_host_tls_certfile else "ledger+http"
    print(
        f"ledger host for {s.clickhouse_dsn} (database {s.clickhouse_database}) on {args.bind}:{args.port}; workers use "
        f"ZL_CLICKHOUSE_URL={scheme}://{args.bind}:{args.port} and the token in {s.ledger_host_token_path}",
        flush=True,
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # leave serve_forever through its finally: chDB closes cleanly

    signal.signal(signal.SIGTERM, stop)
    try:
        serve(
            s.clickhouse_dsn,
            args.bind,
            args.port,
            Failpoints.parse(s.failpoints),
            database=s.clickhouse_database,
            token_file=s.ledger_host_token_path,
            max_connections=s.ledger_host_max_connections,
            tls_certfile=s.ledger_host_tls_certfile,
            tls_keyfile=s.ledger_host_tls_keyfile,
        )
    except KeyboardInterrupt:
        pass
    return 0


def cmd_rollups(args: argparse.Namespace) -> int:
    from zettaledger.sinks import rollups
    from zettaledger.sinks.client import connect

    s = _settings()
    client = connect(s.clickhouse_dsn)
    if args.action == "rebuild":
        rollups.rebuild(client, s.clickhouse_database)
    problems = rollups.check(client, s.clickhouse_database)
    for problem in problems:
        print(problem)
    print("rollups agree with the ledger" if not problems else "rollups differ from the ledger: run `zl rollups rebuild`")
    return 1 if problems else 0


def cmd_dead_letters(args: argparse.Namespace) -> int:
    if args.action == "replay":
        from zettaledger.dead_letter_replay import replay

        outcome = replay(_settings(), code=args.code, limit=args.limit, timeout_s=args.timeout, dry_run=args.dry_run)
        for example in outcome.examples:
            print(f"skipped {example}")
        print(("(dry run) " if args.dry_run else "") + outcome.summary())
        return 0
    from kafka import KafkaConsumer

    from zettaledger.kafka_security import KafkaSecurity
    from zettaledger.report import visible

    s = _settings()
    security = KafkaSecurity.from_settings(s)
    security.check_access(s.kafka_servers, [s.topic_dead_letter], [], "access check")
    consumer = KafkaConsumer(
        s.topic_dead_letter,
        bootstrap_servers=s.kafka_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(args.timeout * 1000),
        **security.kafka_python_options(),
    )
    shown = 0
    try:
        for record in consumer:
            headers = {k: v[:1024].decode("utf-8", "replace") for k, v in record.headers or []}
            print(
                visible(  # what a producer sent, shown with its control characters escaped
                    f"{record.topic}[{record.partition}]@{record.offset} from {headers.get('zl.source.topic')}"
                    f"[{headers.get('zl.source.partition')}]@{headers.get('zl.source.offset')}: "
                    f"{headers.get('zl.event.type')} {headers.get('zl.error.code')} "
                    f"field={headers.get('zl.error.field')} value={headers.get('zl.error.value')} "
                    f"reason={headers.get('zl.error.reason')}"
                    + (
                        f" payload={headers['zl.payload.length']} bytes, sha256={headers.get('zl.payload.sha256')} (cut)"
                        if "zl.payload.length" in headers
                        else ""
                    )
                )
            )
            shown += 1
            if shown >= (args.limit or 50):
                break
    finally:
        consumer.close()
    print(f"{shown} dead letter(s) shown")
    return 0


_COMPRESSIONS = ("gzip", "snappy", "lz4", "zstd")  # producers.producer.COMPRESSIONS, without importing kafka here


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("topics", help="create the Kafka topics").set_defaults(fn=cmd_topics)
    p = sub.add_parser("migrate", help="create or upgrade the ClickHouse schema")
    p.add_argument("--grants", action="store_true", help="also create the three roles and their grants (a server only)")
    p.set_defaults(fn=cmd_migrate)
    sub.add_parser("grants", help="print the ClickHouse roles (ddl, writer, reader) and their grants").set_defaults(fn=cmd_grants)
    p = sub.add_parser("produce", help="send JSON-lines events")
    p.add_argument("file", help="path, or - for standard input")
    p.add_argument("--producer-id", default="zl-cli")
    p.add_argument("--batch", type=int, default=500, help="events per EventBatch message")
    p.add_argument("--single", action="store_true", help="one event per message instead of batches")
    p.add_argument("--compression", choices=_COMPRESSIONS, help="compress record batches (the worker reads all four)")
    p.set_defaults(fn=cmd_produce)
    p = sub.add_parser("generate", help="send the calibrated national stream")
    p.add_argument("--size", type=float, default=1.0, help="scales the number of events, never the totals")
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--batch", type=int, default=1000, help="events per EventBatch message")
    p.add_argument("--manifest", help="write the expected figures (JSON) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--compression", choices=_COMPRESSIONS, help="compress record batches (the worker reads all four)")
    p.set_defaults(fn=cmd_generate)
    p = sub.add_parser("worker", help="run the ingest worker")
    p.add_argument("--until-caught-up", action="store_true", help="stop once the topic as of start is in the ledger")
    p.set_defaults(fn=cmd_worker)
    p = sub.add_parser("ledger-host", help="own the chDB directory and serve the ledger to several local workers")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--bind", default="127.0.0.1")
    p.set_defaults(fn=cmd_ledger_host)
    p = sub.add_parser("rollups", help="check the report's rollups against the ledger, or rebuild them")
    p.add_argument("action", choices=["check", "rebuild"])
    p.set_defaults(fn=cmd_rollups)
    from zettaledger.statistics.commands import add_commands

    add_commands(sub)  # report, publish, close, revisions, export, sql
    p = sub.add_parser(
        "dead-letters",
        help="show dead-lettered events with their reasons, or replay them once the cause is fixed",
        description="`zl dead-letters` lists dead letters; `zl dead-letters replay` sends each back to the input topic "
        "and partition it came from (once: progress is kept by the consumer group <ZL_APP_ID>-replay), skipping "
        "letters whose value was cut. See zettaledger/dead_letter_replay.py.",
    )
    p.add_argument("action", nargs="?", choices=["list", "replay"], default="list")
    p.add_argument("--limit", type=int, default=None, help="letters at most (list: 50 when not given)")
    p.add_argument("--code", help="replay only letters with this zl.error.code (e.g. unknown_schema, too_many_parents)")
    p.add_argument("--dry-run", action="store_true", help="replay: count what would be sent, send and commit nothing")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for more")
    p.set_defaults(fn=cmd_dead_letters)
    from zettaledger.lineage_cli import add_lineage_commands

    add_lineage_commands(sub)  # lineage upstream, downstream, impact, roots
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # One setting for every module: they all log under the zettaledger namespace.
        logging.getLogger("zettaledger").setLevel(_settings().log_level.upper())
        return int(args.fn(args))
    except ZettaledgerError as exc:
        print(f"zl {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        refused = _kafka_refusal(exc, f"zl {args.command}")
        if refused is None:
            raise
        print(refused, file=sys.stderr)
        return 2


def _kafka_refusal(exc: Exception, doing: str) -> ZettaledgerError | None:
    """Kafka's refusals (a login, an ACL) from any command, as our message instead of a traceback."""
    from zettaledger.kafka_security import KafkaSecurity

    try:
        return KafkaSecurity.from_settings(_settings()).explain(exc, doing)
    except ZettaledgerError:
        return None


if __name__ == "__main__":
    sys.exit(main())
