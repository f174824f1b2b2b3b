"""Grants the secure test broker's users their ACLs (run by ``scripts/kafka.sh acls``).

The connection is the admin's, from the ZL_KAFKA_* settings (kafka.sh sources
secure.env); the resources are ZL_TOPIC_EVENTS, ZL_TOPIC_DEAD_LETTER and ZL_APP_ID
(the worker's consumer group), as the worker would read them. Each user gets the
least it needs:

    worker    READ+DESCRIBE the events and OpenLineage topics, READ its groups (<app id> for the events,
              <app id>-openlineage for the OpenLineage feed), WRITE+DESCRIBE dead letters
    producer  WRITE+DESCRIBE the events and OpenLineage topics
    reader    READ+DESCRIBE the dead-letter topic, READ the group <app id>-reader
    stranger  nothing: a valid login that the authorizer refuses everywhere

Granting an ACL that exists already is a no-op, so this can run at every start.
(Kafka 4's own kafka-acls lives in the kafka-tools jar, which the broker does not
need; the admin API through kafka-python does the same thing.)
"""

from __future__ import annotations

import sys

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourceType,
)

from zettaledger.kafka_security import KafkaSecurity
from zettaledger.settings import Settings


def grants(settings: Settings) -> list[ACL]:
    def acl(user: str, kind: ResourceType, name: str, *operations: ACLOperation) -> list[ACL]:
        pattern = ResourcePattern(kind, name, ACLResourcePatternType.LITERAL)
        return [ACL(f"User:{user}", "*", op, ACLPermissionType.ALLOW, pattern) for op in operations]

    topic, group = ResourceType.TOPIC, ResourceType.GROUP
    read, write, describe = ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE
    events, dead, app = settings.topic_events, settings.topic_dead_letter, settings.app_id
    openlineage = settings.topic_openlineage
    return [
        *acl("worker", topic, events, read, describe),
        *acl("worker", topic, openlineage, read, describe),
        *acl("worker", group, app, read),
        *acl("worker", group, settings.openlineage_group, read),
        *acl("worker", topic, dead, write, describe),
        *acl("producer", topic, events, write, describe),
        *acl("producer", topic, openlineage, write, describe),
        *acl("reader", topic, dead, read, describe),
        *acl("reader", group, f"{app}-reader", read),
    ]


def main() -> int:
    settings = Settings.from_env()
    security = KafkaSecurity.from_settings(settings)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, client_id="zl-acls", **security.kafka_python_options())
    try:
        wanted = grants(settings)
        result = admin.create_acls(wanted)
        failed = result.get("failed", [])
        for acl, error in failed:
            print(f"acls.py: {acl}: {error}", file=sys.stderr)
        print(
            f"kafka.sh: {len(wanted) - len(failed)} ACLs for topics {settings.topic_events}, {settings.topic_openlineage}, "
            f"{settings.topic_dead_letter} and groups {settings.app_id}, {settings.openlineage_group}",
            file=sys.stderr,
        )
        return 1 if failed else 0
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
