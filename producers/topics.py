"""Creates Zettaledger's topics with explicit partition counts (the broker never auto-creates them)."""

from __future__ import annotations

import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from zettaledger.errors import ZettaledgerError
from zettaledger.kafka_security import KafkaSecurity
from zettaledger.settings import Settings

__all__ = ["KafkaUnavailable", "ensure_topics", "topic_specs"]

log = logging.getLogger(__name__)


class KafkaUnavailable(ZettaledgerError):
    """No broker answered at ZL_KAFKA_BOOTSTRAP."""


def topic_specs(settings: Settings) -> list[NewTopic]:
    return [
        NewTopic(
            settings.topic_events,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"max.message.bytes": str(8 * 1024 * 1024)},
        ),
        # OpenLineage JSON as the openlineage-python KafkaTransport sends it; Spark events reach hundreds of kB.
        NewTopic(
            settings.topic_openlineage,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"max.message.bytes": str(8 * 1024 * 1024)},
        ),
        # Dead letters are kept for 30 days: long enough to inspect, fix and replay.
        NewTopic(
            settings.topic_dead_letter,
            settings.topic_partitions,
            settings.topic_replication,
            topic_configs={"retention.ms": str(30 * 86_400_000), "max.message.bytes": str(8 * 1024 * 1024)},
        ),
    ]


def admin_client(settings: Settings, timeout_s: float = 30.0) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(
                bootstrap_servers=settings.kafka_servers,
                client_id=f"{settings.app_id}-admin",
                **KafkaSecurity.from_settings(settings).kafka_python_options(),
            )
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise KafkaUnavailable(
                    f"no Kafka broker answered at {settings.kafka_bootstrap} ({exc}); "
                    "start one with `make kafka-start` or set ZL_KAFKA_BOOTSTRAP"
                ) from exc
            time.sleep(0.5)


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; returns the names created now."""
    admin = admin_client(settings)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
            for topic in missing:
                log.info("created topic %s with %d partitions", topic.name, topic.num_partitions)
        return [t.name for t in missing]
    finally:
        admin.close()
