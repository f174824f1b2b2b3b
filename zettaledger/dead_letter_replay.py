"""``zl dead-letters replay``: send dead letters back to the topic they came from, once the cause is fixed.

A dead letter holds the message as it was sent (or, for one event of a batch, that
event alone), and headers saying where it came from. After the cause is fixed on the
worker's side (a schema version the worker lacked, a cap set too low), replaying
sends each letter's value back to its source topic and partition, where the worker
counts it as any new message. What replay guarantees:

- **Once per letter:** the replay reads the dead-letter topic with its own consumer
  group (``<ZL_APP_ID>-replay``) and commits as it goes, so a second run continues
  where the first stopped; an event replayed twice anyway is a resend within the
  horizon and is dropped by its id.
- **Only into our input topics:** a letter whose ``zl.source.topic`` is not
  ``ZL_TOPIC_EVENTS`` or ``ZL_TOPIC_OPENLINEAGE`` is skipped, never sent elsewhere.
- **Never a cut copy:** a letter whose value was truncated (``zl.payload.truncated``)
  is skipped and named, with its SHA-256, so the original can be fetched from the
  source topic while Kafka keeps it.

A letter still wrong for the worker is dead-lettered again, with its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from zettaledger.kafka_security import KafkaSecurity
from zettaledger.settings import Settings

__all__ = ["ReplayOutcome", "replay"]


@dataclass
class ReplayOutcome:
    replayed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> letters
    examples: list[str] = field(default_factory=list)  # a few skipped letters, named

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"{self.replayed} dead letter(s) replayed" + (f"; skipped: {skipped}" if skipped else "")


def _skip(outcome: ReplayOutcome, reason: str, where: str) -> None:
    outcome.skipped[reason] += 1
    if len(outcome.examples) < 10:
        outcome.examples.append(f"{where}: {reason}")


def replay(
    settings: Settings, code: str | None = None, limit: int | None = None, timeout_s: float = 5.0, dry_run: bool = False
) -> ReplayOutcome:
    """Replay dead letters (those with error ``code`` only, if given); returns what was done."""
    from kafka import KafkaConsumer, KafkaProducer

    s = settings
    security = KafkaSecurity.from_settings(s)
    options = security.kafka_python_options()
    inputs = {s.topic_events, s.topic_openlineage}
    consumer = KafkaConsumer(
        s.topic_dead_letter,
        bootstrap_servers=s.kafka_servers,
        group_id=f"{s.app_id}-replay",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout_s * 1000),
        **options,
    )
    producer = (
        None
        if dry_run
        else KafkaProducer(bootstrap_servers=s.kafka_servers, acks="all", max_request_size=8 * 1024 * 1024, **options)
    )
    outcome = ReplayOutcome()
    try:
        for record in consumer:
            headers = {k: v[:1024].decode("utf-8", "replace") for k, v in record.headers or []}
            where = f"{record.topic}[{record.partition}]@{record.offset}"
            if code is not None and headers.get("zl.error.code") != code:
                continue
            source, partition = headers.get("zl.source.topic"), headers.get("zl.source.partition", "")
            if "zl.payload.truncated" in headers:
                _skip(outcome, f"value cut (sha256 {headers.get('zl.payload.sha256', '?')[:16]}...)", where)
            elif source not in inputs or not partition.isdigit():
                _skip(outcome, "not from an input topic of this deployment", where)
            elif not record.value:
                _skip(outcome, "empty value", where)
            else:
                if producer is not None:
                    replay_of = f"{record.topic}[{record.partition}]@{record.offset}".encode()
                    producer.send(
                        source, value=record.value, partition=int(partition), headers=[("zl.replay.of", replay_of)]
                    ).get(timeout=60)  # confirmed before the letter counts as replayed
                outcome.replayed += 1
            if not dry_run:
                consumer.commit()
            if limit is not None and outcome.replayed >= limit:
                break
    finally:
        consumer.close()
        if producer is not None:
            producer.close()
    return outcome
