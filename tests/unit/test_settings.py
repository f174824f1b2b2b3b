"""Settings come from ZL_* variables; every problem is reported at once, naming the variable, the value and what is allowed."""

from __future__ import annotations

import pytest

from zettaledger.errors import ConfigError
from zettaledger.settings import Settings, redact_url


def _problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_the_take_size_in_bytes_is_read_from_the_environment() -> None:
    assert Settings.from_env({"ZL_TAKE_MAX_BYTES": "1048576"}).take_max_bytes == 1 << 20
    assert Settings.from_env({}).take_max_bytes == 64 << 20


def test_the_defaults_are_valid() -> None:
    assert Settings().problems() == []


def test_bad_values_are_all_reported_with_their_variable() -> None:
    message = _problems({"ZL_TAKE_MAX_BYTES": "0", "ZL_BATCH_MAX_MESSAGES": "0", "ZL_FLUSH_MAX_BYTES": "lots"})
    assert "ZL_TAKE_MAX_BYTES=0: must be >= 1" in message
    assert "ZL_BATCH_MAX_MESSAGES=0: must be >= 1" in message
    assert "ZL_FLUSH_MAX_BYTES='lots': must be a whole number" in message


# (variable, bad value, what the message must say): one row per rule.
BAD = [
    ("ZL_WEB_PORT", "many", "ZL_WEB_PORT='many': must be a whole number"),
    ("ZL_DISCLOSURE_MIN_REPORTERS", "0", "ZL_DISCLOSURE_MIN_REPORTERS=0: must be >= 1"),
    ("ZL_DISCLOSURE_DOMINANCE_N", "0", "ZL_DISCLOSURE_DOMINANCE_N=0: must be >= 1"),
    ("ZL_DISCLOSURE_DOMINANCE_K", "0", "ZL_DISCLOSURE_DOMINANCE_K=0.0: must be a percentage above 0 and at most 100"),
    ("ZL_DISCLOSURE_DOMINANCE_K", "101", "ZL_DISCLOSURE_DOMINANCE_K=101.0: must be a percentage above 0 and at most 100"),
    ("ZL_DISCLOSURE_DOMINANCE_K", "nan", "ZL_DISCLOSURE_DOMINANCE_K=nan: must be a percentage above 0 and at most 100"),
    ("ZL_DISCLOSURE_UNSUPPRESSED_OK", "perhaps", "ZL_DISCLOSURE_UNSUPPRESSED_OK='perhaps': must be true or false"),
    ("ZL_WEB_PORT", "0", "ZL_WEB_PORT=0: must be a TCP port, 1 to 65535"),
    ("ZL_WEB_PORT", "65536", "ZL_WEB_PORT=65536: must be a TCP port, 1 to 65535"),
    ("ZL_WEB_ENABLED", "maybe", "ZL_WEB_ENABLED='maybe': must be true or false"),
    ("ZL_STALL_TIMEOUT_S", "soon", "ZL_STALL_TIMEOUT_S='soon': must be a number"),
    ("ZL_STALL_TIMEOUT_S", "4", "ZL_STALL_TIMEOUT_S=4.0: must be >= 5"),
    ("ZL_STALL_TIMEOUT_S", "nan", "ZL_STALL_TIMEOUT_S=nan: must be a finite number >= 5"),
    ("ZL_STALL_TIMEOUT_S", "inf", "ZL_STALL_TIMEOUT_S=inf: must be a finite number >= 5"),
    ("ZL_SHUTDOWN_TIMEOUT_S", "0.5", "ZL_SHUTDOWN_TIMEOUT_S=0.5: must be >= 1"),
    ("ZL_SHUTDOWN_TIMEOUT_S", "inf", "ZL_SHUTDOWN_TIMEOUT_S=inf: must be a finite number >= 1"),
    ("ZL_BATCH_WITHIN_S", "60", "ZL_BATCH_WITHIN_S=60.0: must be below ZL_STALL_TIMEOUT_S (60.0)"),
    ("ZL_BATCH_WITHIN_S", "0", "ZL_BATCH_WITHIN_S=0.0: must be a finite number > 0"),
    ("ZL_BATCH_WITHIN_S", "nan", "ZL_BATCH_WITHIN_S=nan: must be a finite number > 0"),
    ("ZL_SESSION_TIMEOUT_S", "nan", "ZL_SESSION_TIMEOUT_S=nan: must be 6 to 300"),
    ("ZL_FLUSH_MAX_BYTES", "0", "ZL_FLUSH_MAX_BYTES=0: must be >= 1"),
    ("ZL_TOPIC_PARTITIONS", "0", "ZL_TOPIC_PARTITIONS=0: must be >= 1"),
    ("ZL_TOPIC_REPLICATION", "0", "ZL_TOPIC_REPLICATION=0: must be >= 1"),
    ("ZL_DEDUP_HORIZON_HOURS", "0", "ZL_DEDUP_HORIZON_HOURS=0: must be 1 to 168"),
    ("ZL_DEDUP_HORIZON_HOURS", "169", "ZL_DEDUP_HORIZON_HOURS=169: must be 1 to 168"),
    ("ZL_DEDUP_MAX_IDS", "0", "ZL_DEDUP_MAX_IDS=0: must be >= 1"),
    ("ZL_LATENESS_HOURS", "-1", "ZL_LATENESS_HOURS=-1: must be >= 0"),
    ("ZL_LOG_LEVEL", "verbose", "ZL_LOG_LEVEL='verbose': must be one of debug, info, warning, error, critical"),
    ("ZL_OTEL_EXPORTER", "jaeger", "ZL_OTEL_EXPORTER='jaeger': must be one of none, otlp, console"),
    ("ZL_KAFKA_BOOTSTRAP", ",", "ZL_KAFKA_BOOTSTRAP=',': must name at least one host:port"),
    ("ZL_KAFKA_BOOTSTRAP", "broker:9092,broker", "ZL_KAFKA_BOOTSTRAP='broker': each entry must be host:port"),
    ("ZL_KAFKA_BOOTSTRAP", "broker:70000", "ZL_KAFKA_BOOTSTRAP='broker:70000': each entry must be host:port, port 1 to 65535"),
    ("ZL_KAFKA_BOOTSTRAP", "bröker:9092", "ZL_KAFKA_BOOTSTRAP='bröker:9092': each entry must be host:port"),
    ("ZL_WEB_BIND", "not a host", "ZL_WEB_BIND='not a host': must be an IP address"),
    ("ZL_WEB_BIND", "-pod", "ZL_WEB_BIND='-pod': must be an IP address"),
    ("ZL_TOPIC_EVENTS", "zl events", "ZL_TOPIC_EVENTS='zl events': 1 to 249 ASCII letters"),
    ("ZL_TOPIC_EVENTS", "zl.événements", "ZL_TOPIC_EVENTS='zl.événements': 1 to 249 ASCII letters"),
    ("ZL_TOPIC_EVENTS", "..", "ZL_TOPIC_EVENTS='..': 1 to 249 ASCII letters"),
    ("ZL_TOPIC_EVENTS", "t" * 250, "(250 characters): 1 to 249 ASCII letters"),
    ("ZL_TOPIC_DEAD_LETTER", "zl.events", "ZL_TOPIC_DEAD_LETTER='zl.events': must differ from ZL_TOPIC_EVENTS"),
    ("ZL_TOPIC_DEAD_LETTER", "dlq/1", "ZL_TOPIC_DEAD_LETTER='dlq/1': 1 to 249 ASCII letters"),
    ("ZL_APP_ID", "zl app", "ZL_APP_ID='zl app': 1 to 100 ASCII letters"),
    ("ZL_APP_ID", "a" * 101, "(101 characters): 1 to 100 ASCII letters"),
    ("ZL_GROUP_INSTANCE_ID", "pod 0", "ZL_GROUP_INSTANCE_ID='pod 0': 1 to 249 ASCII letters"),
    ("ZL_CLICKHOUSE_DATABASE", "ledgér", "ZL_CLICKHOUSE_DATABASE='ledgér': 1 to 64 ASCII letters, digits and _"),
    ("ZL_CLICKHOUSE_DATABASE", "٣", "ZL_CLICKHOUSE_DATABASE='٣': 1 to 64 ASCII letters, digits and _"),
    (
        "ZL_CLICKHOUSE_DATABASE",
        "2025",
        "ZL_CLICKHOUSE_DATABASE='2025': 1 to 64 ASCII letters, digits and _, not starting with a digit",
    ),
    ("ZL_CLICKHOUSE_DATABASE", "d" * 100_000, "(100000 characters): 1 to 64 ASCII letters"),
    ("ZL_CLICKHOUSE_CLUSTER", "national;DROP", "ZL_CLICKHOUSE_CLUSTER='national;DROP': empty, or 1 to 64 ASCII letters"),
    ("ZL_CLICKHOUSE_CLUSTER", "national-2", "ZL_CLICKHOUSE_CLUSTER='national-2': empty, or 1 to 64 ASCII letters"),
    ("ZL_CLICKHOUSE_CLUSTER", "c" * 100, "(100 characters): empty, or 1 to 64 ASCII letters"),
    ("ZL_CLICKHOUSE_URL", "ftp://host/db", "ZL_CLICKHOUSE_URL='ftp://host/db': must start with chdb://"),
]


@pytest.mark.parametrize(("var", "value", "expected"), BAD, ids=[f"{v}={x[:12]}" for v, x, _ in BAD])
def test_each_rule_names_the_variable_the_value_and_what_is_allowed(var: str, value: str, expected: str) -> None:
    assert expected in _problems({var: value})


def test_every_problem_is_reported_at_once() -> None:
    env = {var: value for var, value, _ in BAD}  # the last row of each variable
    message = _problems(env)
    for var in env:
        assert f"\n  {var}=" in message, var


def test_a_huge_value_is_cut_short_in_the_message() -> None:
    assert len(_problems({"ZL_CLICKHOUSE_DATABASE": "d" * 100_000})) < 300


@pytest.mark.parametrize(
    ("var", "value", "field", "stored"),
    [
        ("ZL_LOG_LEVEL", "INFO", "log_level", "info"),
        ("ZL_LOG_LEVEL", "Debug", "log_level", "debug"),
        ("ZL_OTEL_EXPORTER", "OTLP", "otel_exporter", "otlp"),
        ("ZL_WEB_PORT", "65535", "web_port", 65535),
        ("ZL_WEB_BIND", "0.0.0.0", "web_bind", "0.0.0.0"),
        ("ZL_WEB_BIND", "::", "web_bind", "::"),
        ("ZL_WEB_BIND", "zettaledger-worker-0.zettaledger.svc", "web_bind", "zettaledger-worker-0.zettaledger.svc"),
        ("ZL_KAFKA_BOOTSTRAP", "b-1.kafka:9092, [::1]:19092", "kafka_bootstrap", "b-1.kafka:9092, [::1]:19092"),
        ("ZL_CLICKHOUSE_DATABASE", "_t_0a1b", "clickhouse_database", "_t_0a1b"),
        ("ZL_CLICKHOUSE_CLUSTER", "national_2", "clickhouse_cluster", "national_2"),
        ("ZL_GROUP_INSTANCE_ID", "zettaledger-worker-0", "group_instance_id", "zettaledger-worker-0"),
        ("ZL_WEB_ENABLED", "off", "web_enabled", False),
        ("ZL_BATCH_WITHIN_S", "0.2", "batch_within_s", 0.2),
    ],
)
def test_good_values_are_accepted_and_choices_stored_lower_case(var: str, value: str, field: str, stored: object) -> None:
    assert getattr(Settings.from_env({var: value}), field) == stored


def test_the_clickhouse_password_is_never_printed() -> None:
    url = "https://reader:s3cr3t@clickhouse.example:8443/?password=s3cr3t"
    settings = Settings.from_env({"ZL_CLICKHOUSE_URL": url})
    assert settings.clickhouse_dsn == url  # the client still gets it
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings)
    assert "reader:***@clickhouse.example:8443" in repr(settings)
    assert "s3cr3t" not in _problems({"ZL_CLICKHOUSE_URL": "ftp://reader:s3cr3t@host/db"})


def test_redact_url_masks_only_the_password() -> None:
    assert redact_url("http://user:p@ss:w0rd@host:8123/db") == "http://user:***@host:8123/db"
    assert redact_url("chdb:///var/chdb") == "chdb:///var/chdb"
    assert redact_url("http://host:8123/?user=u&password=x&y=1") == "http://host:8123/?user=u&password=***&y=1"


def test_an_empty_var_dir_given_in_code_is_refused() -> None:
    with pytest.raises(ConfigError, match="ZL_VAR_DIR='': must name a directory"):
        Settings.from_env({}, var_dir="")


def test_disclosure_rules_are_settings_with_the_offices_defaults() -> None:
    default = Settings.from_env({})
    assert (default.disclosure_min_reporters, default.disclosure_dominance_n, default.disclosure_dominance_k) == (3, 2, 85.0)
    assert default.disclosure_unsuppressed_ok is False  # confidential figures need the privileged role's switch
    s = Settings.from_env({"ZL_DISCLOSURE_MIN_REPORTERS": "5", "ZL_DISCLOSURE_DOMINANCE_K": "70.5"})
    assert (s.disclosure_min_reporters, s.disclosure_dominance_k) == (5, 70.5)
