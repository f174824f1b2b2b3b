"""Builds the Faust app from settings, and nothing else."""

from __future__ import annotations

from pathlib import Path

import faust

from zettaledger.settings import Settings

__all__ = ["build_app"]


def build_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_servers],
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
        datadir=str(Path(settings.var_dir) / "faust"),
        # Bounded read-ahead: while ClickHouse is away the worker stops fetching
        # instead of buffering the topic in memory (backpressure).
        stream_buffer_maxsize=256,
        producer_max_request_size=8 * 1024 * 1024,
        consumer_max_fetch_size=8 * 1024 * 1024,
    )
