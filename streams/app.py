"""Builds the Faust app from settings, and nothing else."""

from __future__ import annotations

from pathlib import Path

import faust

from zettaledger.kafka_security import KafkaSecurity
from zettaledger.settings import Settings

__all__ = ["broker_credentials", "build_app"]


def broker_credentials(security: KafkaSecurity) -> faust.types.auth.CredentialsT | None:
    """Faust's form of the Kafka security settings: SASL (over TLS or not), TLS alone, or nothing."""
    if security.sasl:
        return faust.SASLCredentials(
            username=security.username,
            password=security.password,
            mechanism=security.mechanism,
            ssl_context=security.ssl_context(),  # None with SASL_PLAINTEXT
        )
    context = security.ssl_context()
    return faust.SSLCredentials(context) if context is not None else None


def _made(directory: Path) -> Path:
    """``directory``, created with its parents: Faust creates only the last level of its datadir."""
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def build_app(settings: Settings) -> faust.App:
    """The app from ``settings`` alone: Faust's own environment variables (``WEB_BIND``, ``WEB_PORT``,
    ``APP_WEB_STATS_ENABLED``, ``BROKER_...``; Faust lets them override its arguments) are not read,
    and the web server serves our pages only (/livez, /readyz, /healthz, the live query endpoint)."""
    return faust.App(
        settings.app_id,
        env={},  # Faust reads its settings' environment variables from this mapping, not os.environ
        env_prefix=None,
        debug=False,
        web_router_enabled=False,  # /router/*: which worker holds a key
        web_tables_enabled=False,  # /table/*: the contents of tables
        web_graph_enabled=False,
        web_stats_enabled=False,  # /stats, /assignment: sensor figures and partition assignment
        web_metrics_enabled=False,
        broker=[f"kafka://{server}" for server in settings.kafka_servers],
        broker_credentials=broker_credentials(KafkaSecurity.from_settings(settings)),
        store="memory://",
        autodiscover=False,
        # Topics are the project's (``zl topics``); Faust must not invent its own.
        topic_disable_leader=True,
        topic_allow_declare=False,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        # Offsets are committed only for acked events, which take_events acks
        # after the flush that holds them was written; the ledger is the source of truth.
        broker_commit_interval=1.0,
        # A crashed worker's partitions move after this long; Kafka's 45 s default
        # would stall a partition for most of a minute after every SIGKILL.
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 3,
        consumer_group_instance_id=settings.group_instance_id or None,
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        # Faust keeps nothing we need on disk (tables are in memory), but wants a
        # directory: keep it under var/, never the working directory.
        datadir=str(_made(Path(settings.var_dir)) / "faust"),
        # Bounded read-ahead: while ClickHouse is away the worker stops fetching
        # instead of buffering the topic in memory (backpressure).
        stream_buffer_maxsize=256,
        producer_max_request_size=8 * 1024 * 1024,
        consumer_max_fetch_size=8 * 1024 * 1024,
    )
