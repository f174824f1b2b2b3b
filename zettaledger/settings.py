"""Settings, read once from ``ZL_*`` environment variables and validated together.

Precedence: explicit arguments (tests, CLI flags) over the environment over the
defaults below. Every problem is reported at once. Secrets in URLs are never printed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from zettaledger.errors import ConfigError
from zettaledger.failpoints import Failpoints, FailpointSpecError

__all__ = ["REPO_ROOT", "Settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Every knob, with its environment variable (``ZL_`` + upper-cased name) and default."""

    var_dir: str = str(REPO_ROOT / "var")  # ZL_VAR_DIR: local state (chDB, Kafka data)
    kafka_bootstrap: str = "127.0.0.1:9092"  # ZL_KAFKA_BOOTSTRAP: host:port[,host:port]
    topic_events: str = "zl.events"  # ZL_TOPIC_EVENTS
    topic_dead_letter: str = "zl.dead-letter"  # ZL_TOPIC_DEAD_LETTER
    topic_partitions: int = 4  # ZL_TOPIC_PARTITIONS: used when the project creates topics
    topic_replication: int = 1  # ZL_TOPIC_REPLICATION
    clickhouse_url: str = ""  # ZL_CLICKHOUSE_URL: chdb:///path or http(s)://user:pass@host:8123; default chdb under var/
    clickhouse_database: str = "zettaledger"  # ZL_CLICKHOUSE_DATABASE
    clickhouse_cluster: str = ""  # ZL_CLICKHOUSE_CLUSTER: ON CLUSTER name and Replicated engines when set
    app_id: str = "zettaledger"  # ZL_APP_ID: Faust app id, also the consumer group
    session_timeout_s: float = 10.0  # ZL_SESSION_TIMEOUT_S: a worker silent this long loses its partitions
    group_instance_id: str = ""  # ZL_GROUP_INSTANCE_ID: static membership (a stable pod name) for instant restarts
    batch_max_messages: int = (
        2000  # ZL_BATCH_MAX_MESSAGES: messages per flush at most (a flush also closes after ZL_BATCH_WITHIN_S)
    )
    flush_max_bytes: int = 16 * 1024 * 1024  # ZL_FLUSH_MAX_BYTES: payload per flush at most, which bounds memory
    take_max_bytes: int = 64 * 1024 * 1024  # ZL_TAKE_MAX_BYTES: payload taken from Kafka at once, roughly
    batch_within_s: float = 1.0  # ZL_BATCH_WITHIN_S: flush at least this often while data flows
    dedup_horizon_hours: int = 24  # ZL_DEDUP_HORIZON_HOURS: resends later than this are counted again
    dedup_max_ids: int = 2_000_000  # ZL_DEDUP_MAX_IDS: ids remembered per worker (about 44 MB per million)
    lateness_hours: int = 48  # ZL_LATENESS_HOURS: later events count in their day, flagged as adjustments
    stall_timeout_s: float = 60.0  # ZL_STALL_TIMEOUT_S: no flush this long while behind -> exit for a restart
    web_enabled: bool = True  # ZL_WEB_ENABLED: health endpoint /healthz and Faust's web views
    web_port: int = 6066  # ZL_WEB_PORT
    web_bind: str = "127.0.0.1"  # ZL_WEB_BIND: 0.0.0.0 in a pod, so probes reach /healthz
    otel_exporter: str = "none"  # ZL_OTEL_EXPORTER: none, otlp (OTEL_EXPORTER_OTLP_ENDPOINT) or console
    log_level: str = "warning"  # ZL_LOG_LEVEL: the worker's (Faust's) log level
    failpoints: str = ""  # ZL_FAILPOINTS: fault injection for the fault suite (see zettaledger.failpoints); empty in production

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{Path(self.var_dir).resolve() / 'chdb'}"

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            var = "ZL_" + f.name.upper()
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            kind: Any = type(f.default)
            try:
                if kind is bool:
                    if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError("expected true or false")
                    values[f.name] = raw.lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = kind(raw)
            except ValueError as exc:
                problems.append(f"{var}={raw!r}: {exc}")
        settings = cls(**values)
        problems.extend(settings.problems())
        if problems:
            raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
        return settings

    def problems(self) -> list[str]:
        out = []
        if self.topic_partitions < 1:
            out.append(f"ZL_TOPIC_PARTITIONS={self.topic_partitions}: must be >= 1")
        if self.take_max_bytes < 1:
            out.append(f"ZL_TAKE_MAX_BYTES={self.take_max_bytes}: must be >= 1")
        if self.batch_max_messages < 1:
            out.append(f"ZL_BATCH_MAX_MESSAGES={self.batch_max_messages}: must be >= 1")
        if not 6 <= self.session_timeout_s <= 300:
            out.append(f"ZL_SESSION_TIMEOUT_S={self.session_timeout_s}: must be 6 to 300 (the broker's group limits)")
        if self.stall_timeout_s < 5:
            out.append(f"ZL_STALL_TIMEOUT_S={self.stall_timeout_s}: must be >= 5")
        if self.batch_within_s <= 0:
            out.append(f"ZL_BATCH_WITHIN_S={self.batch_within_s}: must be > 0")
        if self.dedup_horizon_hours < 1:
            out.append(f"ZL_DEDUP_HORIZON_HOURS={self.dedup_horizon_hours}: must be >= 1")
        if self.lateness_hours < 0:
            out.append(f"ZL_LATENESS_HOURS={self.lateness_hours}: must be >= 0")
        if self.dedup_max_ids < 1:
            out.append(f"ZL_DEDUP_MAX_IDS={self.dedup_max_ids}: must be >= 1")
        if self.clickhouse_url and not self.clickhouse_url.startswith(("chdb:", "http://", "https://", "ledger+http://")):
            out.append("ZL_CLICKHOUSE_URL: must start with chdb://, http://, https:// or ledger+http:// (a `zl ledger-host`)")
        if not self.kafka_servers:
            out.append("ZL_KAFKA_BOOTSTRAP: must name at least one host:port")
        if self.otel_exporter not in ("none", "otlp", "console"):
            out.append(f"ZL_OTEL_EXPORTER={self.otel_exporter!r}: must be none, otlp or console")
        if not self.clickhouse_database.replace("_", "").isalnum():
            out.append(f"ZL_CLICKHOUSE_DATABASE={self.clickhouse_database!r}: letters, digits and _ only")
        try:
            Failpoints.parse(self.failpoints)
        except FailpointSpecError as exc:
            out.append(f"ZL_FAILPOINTS={self.failpoints!r}: {exc}")
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)
