"""Settings, read once from ``ZL_*`` environment variables and validated together.

Precedence: explicit arguments (tests, CLI flags) over the environment over the
defaults below. Every problem is reported at once, each naming the variable, the
bad value and what is allowed. Secrets in URLs are never printed: ``repr`` and
the problems show ``ZL_CLICKHOUSE_URL`` with its password masked.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal, get_args

from zettaledger.errors import ConfigError
from zettaledger.failpoints import Failpoints, FailpointSpecError
from zettaledger.kafka_security import SaslMechanism, SecurityProtocol, security_problems

__all__ = [
    "OPENLINEAGE_SOURCES",
    "OPENLINEAGE_UNKNOWN_REGION",
    "REPO_ROOT",
    "SQL_IDENTIFIER",
    "LogLevel",
    "OtelExporter",
    "Settings",
    "is_region_code",
    "parse_openlineage_rules",
    "redact_url",
]

REPO_ROOT = Path(__file__).resolve().parent.parent

OtelExporter = Literal["none", "otlp", "console"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]

_BOOLEANS: Final = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_CHOICES: Final[dict[str, tuple[str, ...]]] = {"otel_exporter": get_args(OtelExporter), "log_level": get_args(LogLevel)}
# Kafka's rule for topic names, group ids and group.instance.id: ASCII letters, digits, '.', '_', '-'; at most 249.
_KAFKA_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")
# The one rule for a database or cluster name: 1 to 64 ASCII characters, nothing to escape inside backquotes.
SQL_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_APP_ID_MAX: Final = 100  # Faust derives topic names from the app id, and Kafka allows 249 characters
_HOST_LABEL: Final = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


OPENLINEAGE_SOURCES: Final = frozenset({"IOT", "AI", "TRAINING", "INFERENCE", "OTHER"})
OPENLINEAGE_UNKNOWN_REGION: Final = "unknown"
_REGION_CODE: Final = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")  # the shape schemas.validation accepts for native events


def is_region_code(value: str) -> bool:
    return bool(_REGION_CODE.fullmatch(value))  # fullmatch: `$` would accept a trailing newline


def parse_openlineage_rules(rules: str) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """``ZL_OPENLINEAGE_RULES`` read: (lower-cased glob, source, region or None) per rule, and every problem.

    The one home of the grammar (``schemas.openlineage.mapping`` builds its rules from it):
    ``PATTERN=SOURCE[@REGION]`` separated by ``;``, PATTERN starting with ``job:`` or ``type:``."""
    parsed: list[tuple[str, str, str | None]] = []
    problems: list[str] = []
    for raw in (r.strip() for r in rules.split(";")):
        if not raw:
            continue
        pattern, eq, target = raw.rpartition("=")
        source, _, region = target.strip().partition("@")
        source = source.strip().upper()
        region = region.strip().upper()
        if not eq or not pattern.strip().lower().startswith(("job:", "type:")):
            problems.append(f"{_shown(raw)}: expected job:GLOB=SOURCE[@REGION] or type:GLOB=SOURCE[@REGION]")
        elif source not in OPENLINEAGE_SOURCES:
            problems.append(f"{_shown(raw)}: source must be one of {', '.join(sorted(OPENLINEAGE_SOURCES))}")
        elif region and not is_region_code(region):
            problems.append(f"{_shown(raw)}: region must be an ISO 3166-2 code such as CN-GD")
        else:
            parsed.append((pattern.strip().lower(), source, region or None))
    return parsed, problems


def redact_url(url: str) -> str:
    """``url`` with the password of its user info (and any ``password=`` parameter) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if sep:
        netloc, slash, path = rest.partition("/")
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                netloc = f"{userinfo.split(':', 1)[0]}:***@{host}"
        url = f"{scheme}{sep}{netloc}{slash}{path}"
    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)


def _shown(value: str, most: int = 80) -> str:
    """``repr(value)``, cut to ``most`` characters so a huge value cannot flood the message."""
    return repr(value) if len(value) <= most else f"{value[:most]!r}... ({len(value)} characters)"


def _is_host(value: str) -> bool:
    """An IP address (IPv6 in brackets or bare) or a DNS host name of ASCII labels."""
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
        return True
    except ValueError:
        pass
    return 0 < len(value) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in value.removesuffix(".").split("."))


def _is_host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    if host.count(":") and not host.startswith("["):  # IPv6 needs brackets before the port
        return False
    return bool(sep) and _is_host(host) and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535


def _parse(kind: type, raw: str) -> Any:
    """``raw`` as a value of ``kind``, or ValueError saying what is allowed."""
    if kind is bool:
        if raw.lower() not in _BOOLEANS:
            raise ValueError("must be true or false (also 1/0, yes/no, on/off)")
        return _BOOLEANS[raw.lower()]
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
    return raw


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
    # ZL_BATCH_MAX_MESSAGES: messages per flush at most (a flush also closes after ZL_BATCH_WITHIN_S).
    # Only single-event messages reach it (a take of batches stops at ZL_TAKE_MAX_BYTES first): a flush
    # costs ~25 ms of ClickHouse work whatever its size, so 2,000 (a flush every ~0.2 s) cost a sixth of the
    # single-event path; 10,000 flushes about once a second, which ZL_BATCH_WITHIN_S promises anyway.
    batch_max_messages: int = 10_000
    flush_max_bytes: int = 16 * 1024 * 1024  # ZL_FLUSH_MAX_BYTES: payload per flush at most, which bounds memory
    take_max_bytes: int = 64 * 1024 * 1024  # ZL_TAKE_MAX_BYTES: payload taken from Kafka at once, roughly
    batch_within_s: float = 1.0  # ZL_BATCH_WITHIN_S: flush at least this often while data flows
    dedup_horizon_hours: int = 24  # ZL_DEDUP_HORIZON_HOURS: resends later than this are counted again
    dedup_max_ids: int = 2_000_000  # ZL_DEDUP_MAX_IDS: ids remembered per worker (about 44 MB per million)
    lateness_hours: int = 48  # ZL_LATENESS_HOURS: later events count in their day, flagged as adjustments
    stall_timeout_s: float = 60.0  # ZL_STALL_TIMEOUT_S: no flush this long while behind -> exit for a restart
    # ZL_SHUTDOWN_TIMEOUT_S: a graceful stop still running this long after it began dumps the stacks and exits
    # (below Kubernetes' 60 s grace, so the dump reaches the log before the kill)
    shutdown_timeout_s: float = 45.0
    web_enabled: bool = True  # ZL_WEB_ENABLED: health endpoint /healthz and Faust's web views
    web_port: int = 6066  # ZL_WEB_PORT
    web_bind: str = "127.0.0.1"  # ZL_WEB_BIND: 0.0.0.0 in a pod, so probes reach /healthz
    otel_exporter: OtelExporter = "none"  # ZL_OTEL_EXPORTER: none, otlp (OTEL_EXPORTER_OTLP_ENDPOINT) or console
    log_level: LogLevel = "warning"  # ZL_LOG_LEVEL: log level of the worker and every zettaledger logger, any case
    failpoints: str = ""  # ZL_FAILPOINTS: fault injection for the fault suite (see zettaledger.failpoints); empty in production
    # Kafka client security, for every client from the worker to the CLI (see zettaledger.kafka_security).
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"  # ZL_KAFKA_SECURITY_PROTOCOL: or SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"  # ZL_KAFKA_SASL_MECHANISM: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN
    kafka_sasl_username: str = ""  # ZL_KAFKA_SASL_USERNAME: required with SASL_*
    kafka_sasl_password: str = dataclasses.field(default="", repr=False)  # ZL_KAFKA_SASL_PASSWORD: or the file, not both
    kafka_sasl_password_file: str = ""  # ZL_KAFKA_SASL_PASSWORD_FILE: a file holding the password (a mounted secret)
    kafka_ssl_cafile: str = ""  # ZL_KAFKA_SSL_CAFILE: PEM CA certificate(s) to trust with SSL/SASL_SSL; default the system's
    kafka_ssl_certfile: str = ""  # ZL_KAFKA_SSL_CERTFILE: PEM client certificate for mTLS (may hold the key too)
    kafka_ssl_keyfile: str = ""  # ZL_KAFKA_SSL_KEYFILE: the client certificate's unencrypted PEM private key
    disclosure_min_reporters: int = 3  # ZL_DISCLOSURE_MIN_REPORTERS: threshold rule: fewer reporters -> suppressed (A)
    disclosure_dominance_n: int = 2  # ZL_DISCLOSURE_DOMINANCE_N: (n,k) dominance: the n largest reporters of a cell...
    disclosure_dominance_k: float = 85.0  # ZL_DISCLOSURE_DOMINANCE_K: ...may not exceed k percent of it (O, T or M)
    disclosure_unsuppressed_ok: bool = False  # ZL_DISCLOSURE_UNSUPPRESSED_OK: the privileged role's switch for --unsuppressed
    # OpenLineage input (see schemas/openlineage/mapping.py for the rules' grammar).
    topic_openlineage: str = "zl.openlineage"  # ZL_TOPIC_OPENLINEAGE: OpenLineage JSON events, as the KafkaTransport sends them
    openlineage_rules: str = ""  # ZL_OPENLINEAGE_RULES: job:GLOB=SOURCE[@REGION];type:GLOB=... for runs without the facet
    openlineage_default_region: str = "unknown"  # ZL_OPENLINEAGE_DEFAULT_REGION: region when neither facet nor rule says
    openlineage_copy_jobs: str = "*copy*,*replicat*,*mirror*,*backup*"  # ZL_OPENLINEAGE_COPY_JOBS: globs of copy jobs
    # Caps on what a producer can make the worker do (each violation is a dead letter with its own code).
    max_message_bytes: int = 8 * 1024 * 1024  # ZL_MAX_MESSAGE_BYTES: a message value (after decompression) at most
    max_batch_events: int = 10_000  # ZL_MAX_BATCH_EVENTS: events in one EventBatch at most (else: too_many_events)
    max_parents: int = 1000  # ZL_MAX_PARENTS: parent_dataset_ids of one event at most (else: too_many_parents)
    max_id_length: int = 256  # ZL_MAX_ID_LENGTH: characters of an id or name field (else: id_too_long)
    max_dead_letters_per_message: int = 100  # ZL_MAX_DEAD_LETTERS_PER_MESSAGE: the rest summarised in one letter
    dead_letter_max_bytes: int = 1024 * 1024  # ZL_DEAD_LETTER_MAX_BYTES: a dead letter's value at most (a longer one is cut)
    # ClickHouse access.
    migrate: bool = True  # ZL_MIGRATE: the worker applies migrations at start; false: it never runs DDL (k8s workers)
    clickhouse_timeout_s: float = 30.0  # ZL_CLICKHOUSE_TIMEOUT_S: send/receive timeout of a ClickHouse server request
    clickhouse_ca_file: str = ""  # ZL_CLICKHOUSE_CA_FILE: PEM CA bundle for https:// (and ledger+https://) URLs
    # The ledger host (zl ledger-host) and its clients.
    ledger_host_token_file: str = ""  # ZL_LEDGER_HOST_TOKEN_FILE: default <ZL_VAR_DIR>/ledger-host.token (0600)
    ledger_host_max_connections: int = 16  # ZL_LEDGER_HOST_MAX_CONNECTIONS: requests served at once; more wait
    ledger_host_tls_certfile: str = ""  # ZL_LEDGER_HOST_TLS_CERTFILE: PEM certificate (and key) to serve HTTPS
    ledger_host_tls_keyfile: str = ""  # ZL_LEDGER_HOST_TLS_KEYFILE: its private key, if not in the certificate file

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse_url or f"chdb://{Path(self.var_dir).resolve() / 'chdb'}"

    @property
    def ledger_host_token_path(self) -> Path:
        return Path(self.ledger_host_token_file or Path(self.var_dir) / "ledger-host.token")

    @property
    def openlineage_group(self) -> str:
        """The consumer group of the worker's OpenLineage feed (Faust's own group is ``app_id``)."""
        return f"{self.app_id}-openlineage"

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()]

    def __repr__(self) -> str:
        shown = (
            f"{f.name}={redact_url(self.clickhouse_url) if f.name == 'clickhouse_url' else getattr(self, f.name)!r}"
            for f in fields(self)
            if f.repr
        )
        return f"Settings({', '.join(shown)})"

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
            try:
                values[f.name] = _parse(type(f.default), raw)
            except ValueError as exc:
                problems.append(f"{var}={raw!r}: {exc}")
        for name in _CHOICES:  # choices in any case, stored lower
            if isinstance(values.get(name), str):
                values[name] = values[name].lower()
        settings = cls(**values)
        problems.extend(settings.problems())
        if problems:
            raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
        return settings

    def problems(self) -> list[str]:
        """Every rule the values break, one line each: the variable, its value, what is allowed."""
        out: list[str] = []

        def at_least(var: str, value: float, low: float) -> None:
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f"{var}={value!r}: must be a finite number >= {low}")
            elif value < low:
                out.append(f"{var}={value!r}: must be >= {low}")

        def kafka_name(var: str, value: str, most: int = 249, optional: bool = False) -> None:
            if (value or not optional) and (len(value) > most or not _KAFKA_NAME.fullmatch(value) or value in (".", "..")):
                out.append(f"{var}={_shown(value)}: 1 to {most} ASCII letters, digits, '.', '_' or '-' (not '.' or '..')")

        if not self.var_dir:
            out.append("ZL_VAR_DIR='': must name a directory")
        servers = self.kafka_servers
        if not servers:
            out.append(f"ZL_KAFKA_BOOTSTRAP={_shown(self.kafka_bootstrap)}: must name at least one host:port")
        for server in servers:
            if not _is_host_port(server):
                out.append(f"ZL_KAFKA_BOOTSTRAP={_shown(server)}: each entry must be host:port, port 1 to 65535")
        kafka_name("ZL_TOPIC_EVENTS", self.topic_events)
        kafka_name("ZL_TOPIC_DEAD_LETTER", self.topic_dead_letter)
        if self.topic_events == self.topic_dead_letter:
            out.append(f"ZL_TOPIC_DEAD_LETTER={_shown(self.topic_dead_letter)}: must differ from ZL_TOPIC_EVENTS")
        kafka_name("ZL_TOPIC_OPENLINEAGE", self.topic_openlineage)
        if self.topic_openlineage in (self.topic_events, self.topic_dead_letter):
            out.append(
                f"ZL_TOPIC_OPENLINEAGE={_shown(self.topic_openlineage)}: must differ from ZL_TOPIC_EVENTS and ZL_TOPIC_DEAD_LETTER"
            )
        out.extend(self._openlineage_problems())
        at_least("ZL_TOPIC_PARTITIONS", self.topic_partitions, 1)
        at_least("ZL_TOPIC_REPLICATION", self.topic_replication, 1)
        if self.clickhouse_url and not self.clickhouse_url.startswith(
            ("chdb:", "http://", "https://", "ledger+http://", "ledger+https://")
        ):
            out.append(
                f"ZL_CLICKHOUSE_URL={_shown(redact_url(self.clickhouse_url))}: "
                "must start with chdb://, http://, https:// or ledger+http(s):// (a `zl ledger-host`)"
            )
        for var, name, optional in (
            ("ZL_CLICKHOUSE_DATABASE", self.clickhouse_database, False),
            ("ZL_CLICKHOUSE_CLUSTER", self.clickhouse_cluster, True),
        ):
            if (name or not optional) and not SQL_IDENTIFIER.fullmatch(name):
                empty = "empty, or " if optional else ""
                out.append(f"{var}={_shown(name)}: {empty}1 to 64 ASCII letters, digits and _, not starting with a digit")
        kafka_name("ZL_APP_ID", self.app_id, most=_APP_ID_MAX)
        if not (math.isfinite(self.session_timeout_s) and 6 <= self.session_timeout_s <= 300):
            out.append(f"ZL_SESSION_TIMEOUT_S={self.session_timeout_s!r}: must be 6 to 300 (the broker's group limits)")
        kafka_name("ZL_GROUP_INSTANCE_ID", self.group_instance_id, optional=True)
        at_least("ZL_BATCH_MAX_MESSAGES", self.batch_max_messages, 1)
        at_least("ZL_TAKE_MAX_BYTES", self.take_max_bytes, 1)
        at_least("ZL_FLUSH_MAX_BYTES", self.flush_max_bytes, 1)
        at_least("ZL_STALL_TIMEOUT_S", self.stall_timeout_s, 5)
        at_least("ZL_SHUTDOWN_TIMEOUT_S", self.shutdown_timeout_s, 1)
        if not (math.isfinite(self.batch_within_s) and self.batch_within_s > 0):
            out.append(f"ZL_BATCH_WITHIN_S={self.batch_within_s!r}: must be a finite number > 0")
        elif math.isfinite(self.stall_timeout_s) and self.batch_within_s >= self.stall_timeout_s:
            out.append(
                f"ZL_BATCH_WITHIN_S={self.batch_within_s!r}: must be below ZL_STALL_TIMEOUT_S "
                f"({self.stall_timeout_s!r}), or waiting for a take would look like a stall"
            )
        if not 1 <= self.dedup_horizon_hours <= 168:
            out.append(
                f"ZL_DEDUP_HORIZON_HOURS={self.dedup_horizon_hours!r}: must be 1 to 168 (seen_events keeps a week at most)"
            )
        at_least("ZL_DEDUP_MAX_IDS", self.dedup_max_ids, 1)
        at_least("ZL_LATENESS_HOURS", self.lateness_hours, 0)
        if not 1 <= self.web_port <= 65535:
            out.append(f"ZL_WEB_PORT={self.web_port!r}: must be a TCP port, 1 to 65535")
        if not _is_host(self.web_bind):
            out.append(f"ZL_WEB_BIND={_shown(self.web_bind)}: must be an IP address (0.0.0.0 for every interface) or a host name")
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                out.append(f"ZL_{name.upper()}={_shown(str(value))}: must be one of {', '.join(allowed)}")
        try:
            Failpoints.parse(self.failpoints)
        except FailpointSpecError as exc:
            out.append(f"ZL_FAILPOINTS={_shown(self.failpoints)}: {exc}")
        out.extend(security_problems(self))
        at_least("ZL_DISCLOSURE_MIN_REPORTERS", self.disclosure_min_reporters, 1)
        at_least("ZL_DISCLOSURE_DOMINANCE_N", self.disclosure_dominance_n, 1)
        for var, value, low, high in (
            ("ZL_MAX_MESSAGE_BYTES", self.max_message_bytes, 1024, 2**31 - 1),
            ("ZL_MAX_BATCH_EVENTS", self.max_batch_events, 1, 10_000_000),
            ("ZL_MAX_PARENTS", self.max_parents, 1, 1_000_000),
            ("ZL_MAX_ID_LENGTH", self.max_id_length, 36, 65_536),
            ("ZL_MAX_DEAD_LETTERS_PER_MESSAGE", self.max_dead_letters_per_message, 1, 1_000_000),
            ("ZL_DEAD_LETTER_MAX_BYTES", self.dead_letter_max_bytes, 1024, 64 * 1024 * 1024),
            ("ZL_LEDGER_HOST_MAX_CONNECTIONS", self.ledger_host_max_connections, 1, 1024),
        ):
            if not low <= value <= high:
                out.append(f"{var}={value!r}: must be {low} to {high}")
        if not (math.isfinite(self.clickhouse_timeout_s) and 1 <= self.clickhouse_timeout_s <= 3600):
            out.append(f"ZL_CLICKHOUSE_TIMEOUT_S={self.clickhouse_timeout_s!r}: must be 1 to 3600 seconds")
        for var, path in (
            ("ZL_CLICKHOUSE_CA_FILE", self.clickhouse_ca_file),
            ("ZL_LEDGER_HOST_TLS_CERTFILE", self.ledger_host_tls_certfile),
            ("ZL_LEDGER_HOST_TLS_KEYFILE", self.ledger_host_tls_keyfile),
        ):
            if path and not Path(path).is_file():
                out.append(f"{var}={_shown(path)}: no such file")
        if self.ledger_host_tls_keyfile and not self.ledger_host_tls_certfile:
            out.append("ZL_LEDGER_HOST_TLS_KEYFILE is set without ZL_LEDGER_HOST_TLS_CERTFILE")
        if not (math.isfinite(self.disclosure_dominance_k) and 0 < self.disclosure_dominance_k <= 100):
            out.append(f"ZL_DISCLOSURE_DOMINANCE_K={self.disclosure_dominance_k!r}: must be a percentage above 0 and at most 100")
        return out

    def _openlineage_problems(self) -> list[str]:
        out: list[str] = []
        for var, value in (
            ("ZL_OPENLINEAGE_RULES", self.openlineage_rules),
            ("ZL_OPENLINEAGE_COPY_JOBS", self.openlineage_copy_jobs),
        ):
            if len(value) > 10_000:
                out.append(f"{var}={_shown(value)}: at most 10,000 characters")
        _, problems = parse_openlineage_rules(self.openlineage_rules)
        out.extend(f"ZL_OPENLINEAGE_RULES: {p}" for p in problems)
        region = self.openlineage_default_region
        if region != OPENLINEAGE_UNKNOWN_REGION and not is_region_code(region):
            out.append(
                f"ZL_OPENLINEAGE_DEFAULT_REGION={_shown(region)}: an ISO 3166-2 code such as CN-GD, or {OPENLINEAGE_UNKNOWN_REGION!r}"
            )
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)
