"""Kafka client security from settings: what each client library gets, what is refused at start-up, and the messages."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from zettaledger import kafka_security
from zettaledger.errors import ConfigError
from zettaledger.kafka_security import (
    KafkaAuthenticationError,
    KafkaAuthorizationError,
    KafkaSecurity,
    Secret,
)
from zettaledger.settings import Settings
from zettaledger.streams.app import broker_credentials

PASSWORD = "s3cret-Pa55"


class FakeKafkaError(Exception):
    errno = -1


class TopicDenied(FakeKafkaError):
    errno = 29


class GroupDenied(FakeKafkaError):
    errno = 30


class SaslAuthenticationFailedError(FakeKafkaError):
    errno = 58


class KafkaTimeoutError(FakeKafkaError):
    errno = 7


@pytest.fixture(autouse=True)
def no_remembered_refusal() -> Iterator[None]:
    kafka_security._REFUSALS.last = None
    yield
    kafka_security._REFUSALS.last = None


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate signed by it, made with openssl as scripts/kafka.sh does."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make test certificates")
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=client", "-keyout", "client.key", "-out", "client.csr")
    run(
        "x509",
        "-req",
        "-in",
        "client.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "client.pem",
    )
    (d / "garbage.pem").write_text("not a certificate\n")
    return {name: d / f"{name}.pem" for name in ("ca", "client", "garbage")} | {"key": d / "client.key"}


def sasl_ssl_env(pki: dict[str, Path], tmp_path: Path, **extra: str) -> dict[str, str]:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    return {
        "ZL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ZL_KAFKA_SASL_USERNAME": "worker",
        "ZL_KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "ZL_KAFKA_SSL_CAFILE": str(pki["ca"]),
        "ZL_KAFKA_SSL_CERTFILE": str(pki["client"]),
        "ZL_KAFKA_SSL_KEYFILE": str(pki["key"]),
    } | extra


def problems_of(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    security = KafkaSecurity.from_settings(Settings.from_env({}))
    assert security.protocol == "PLAINTEXT"
    assert security.kafka_python_options() == {"security_protocol": "PLAINTEXT"}
    assert security.ssl_context() is None
    assert broker_credentials(security) is None


def test_sasl_ssl_gives_every_client_the_same_credentials(pki: dict[str, Path], tmp_path: Path) -> None:
    security = KafkaSecurity.from_settings(Settings.from_env(sasl_ssl_env(pki, tmp_path)))
    options = security.kafka_python_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "worker"
    assert options["sasl_plain_password"] == PASSWORD  # the file's trailing newline is not part of it
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert security.aiokafka_options().keys() == options.keys()

    credentials = broker_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("worker", PASSWORD)
    assert PASSWORD not in repr(credentials)


def test_ssl_alone_gives_faust_ssl_credentials(pki: dict[str, Path]) -> None:
    settings = Settings.from_env({"ZL_KAFKA_SECURITY_PROTOCOL": "SSL", "ZL_KAFKA_SSL_CAFILE": str(pki["ca"])})
    security = KafkaSecurity.from_settings(settings)
    assert "sasl_mechanism" not in security.kafka_python_options()
    assert isinstance(broker_credentials(security), faust.SSLCredentials)


def test_sasl_plaintext_has_no_tls() -> None:
    settings = Settings.from_env(
        {"ZL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ZL_KAFKA_SASL_USERNAME": "u", "ZL_KAFKA_SASL_PASSWORD": "p"}
    )
    security = KafkaSecurity.from_settings(settings)
    assert "ssl_context" not in security.kafka_python_options()
    credentials = broker_credentials(security)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_the_password_is_in_no_repr(pki: dict[str, Path], tmp_path: Path) -> None:
    for env in (
        sasl_ssl_env(pki, tmp_path),
        sasl_ssl_env(pki, tmp_path, ZL_KAFKA_SASL_PASSWORD=PASSWORD, ZL_KAFKA_SASL_PASSWORD_FILE=""),
    ):
        settings = Settings.from_env(env)
        security = KafkaSecurity.from_settings(settings)
        for shown in (repr(settings), repr(security), repr(security.kafka_python_options()), security.describe()):
            assert PASSWORD not in shown
        assert isinstance(security.password, Secret) and security.password == PASSWORD
    assert PASSWORD not in str({"sasl_plain_password": Secret(PASSWORD)})  # how kafka-python logs its config


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"ZL_KAFKA_SECURITY_PROTOCOL": "TLS"}, "ZL_KAFKA_SECURITY_PROTOCOL='TLS': must be one of PLAINTEXT, SSL"),
        ({"ZL_KAFKA_SASL_MECHANISM": "GSSAPI"}, "ZL_KAFKA_SASL_MECHANISM='GSSAPI': must be one of SCRAM-SHA-512"),
        ({"ZL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "ZL_KAFKA_SASL_USERNAME: required with ZL_KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
        ({"ZL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "ZL_KAFKA_SASL_PASSWORD or ZL_KAFKA_SASL_PASSWORD_FILE: one is required"),
        (
            {
                "ZL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "ZL_KAFKA_SASL_PASSWORD": "x",
                "ZL_KAFKA_SASL_PASSWORD_FILE": "/etc/hostname",
            },
            "are both set: set only one",
        ),
        (
            {"ZL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "ZL_KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"},
            "ZL_KAFKA_SASL_PASSWORD_FILE=/nonexistent/pw: cannot be read",
        ),
        ({"ZL_KAFKA_SASL_USERNAME": "u"}, "ZL_KAFKA_SASL_USERNAME is set, but ZL_KAFKA_SECURITY_PROTOCOL=PLAINTEXT sends no"),
        (
            {"ZL_KAFKA_SSL_CAFILE": "/etc/hostname"},
            "ZL_KAFKA_SSL_CAFILE is set, but ZL_KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS",
        ),
        (
            {"ZL_KAFKA_SECURITY_PROTOCOL": "SSL", "ZL_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
            "ZL_KAFKA_SSL_CAFILE=/nonexistent/ca.pem: cannot be read",
        ),
    ],
)
def test_each_problem_names_its_variable(env: dict[str, str], expected: str) -> None:
    assert expected in problems_of(env)


def test_every_problem_is_reported_at_once_and_no_password(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    text = problems_of(
        {
            "ZL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ZL_KAFKA_SASL_MECHANISM": "MD5",
            "ZL_KAFKA_SASL_PASSWORD_FILE": str(empty),
            "ZL_KAFKA_SSL_KEYFILE": str(empty),
        }
    )
    assert "ZL_KAFKA_SASL_MECHANISM='MD5'" in text
    assert "ZL_KAFKA_SASL_USERNAME: required" in text
    assert f"ZL_KAFKA_SASL_PASSWORD_FILE={empty}: the file is empty" in text
    assert "ZL_KAFKA_SSL_KEYFILE is set without ZL_KAFKA_SSL_CERTFILE" in text
    text = problems_of(
        {"ZL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "ZL_KAFKA_SASL_PASSWORD": PASSWORD, "ZL_KAFKA_SASL_MECHANISM": "x"}
    )
    assert PASSWORD not in text


def test_files_that_are_not_certificates_are_named(pki: dict[str, Path], tmp_path: Path) -> None:
    assert "ZL_KAFKA_SSL_CAFILE=" in problems_of(sasl_ssl_env(pki, tmp_path, ZL_KAFKA_SSL_CAFILE=str(pki["garbage"])))
    text = problems_of(sasl_ssl_env(pki, tmp_path, ZL_KAFKA_SSL_KEYFILE=str(pki["ca"])))  # a key that does not match
    assert f"ZL_KAFKA_SSL_CERTFILE={pki['client']}: no PEM certificate with a matching" in text


def security() -> KafkaSecurity:
    return KafkaSecurity(protocol="SASL_SSL", username="stranger", password=Secret(PASSWORD))


def test_a_denied_topic_or_group_is_an_authorization_error_naming_the_principal() -> None:
    for exc, resource in ((TopicDenied("zl.events"), "topic"), (GroupDenied("zettaledger"), "consumer group")):
        refused = security().explain(exc, "zl worker")
        assert isinstance(refused, KafkaAuthorizationError)
        assert str(refused).startswith(f"zl worker: Kafka denied User:stranger access to a {resource}")
        assert "ACL" in str(refused)


def test_a_refused_login_is_found_anywhere_in_the_cause_chain() -> None:
    try:
        try:
            raise SaslAuthenticationFailedError("invalid credentials")
        except FakeKafkaError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        refused = security().explain(outer, "zl produce")
    assert isinstance(refused, KafkaAuthenticationError)
    text = str(refused)
    assert "User:stranger (SCRAM-SHA-512)" in text and "ZL_KAFKA_SASL_PASSWORD_FILE" in text
    assert PASSWORD not in text


def test_a_bootstrap_timeout_is_explained_by_the_refusal_kafka_python_logged() -> None:
    timeout = KafkaTimeoutError("Unable to bootstrap from ['127.0.0.1:9092']")
    assert security().explain(timeout, "zl worker") is None  # nothing refused: the broker is just away
    security().kafka_python_options()  # every client build watches kafka-python's connection log
    logging.getLogger("kafka.net.manager").warning(
        "Bootstrap connection to %s failed: %s", "b-0", SaslAuthenticationFailedError()
    )
    assert isinstance(security().explain(timeout, "zl worker"), KafkaAuthenticationError)
    assert security().explain(ValueError("unrelated"), "zl worker") is None


def test_an_untrusted_broker_certificate_names_the_ca_setting() -> None:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "self-signed certificate in certificate chain"
    refused = security().explain(exc, "zl topics")
    assert isinstance(refused, KafkaAuthenticationError)
    assert "ZL_KAFKA_SSL_CAFILE" in str(refused) and "self-signed" in str(refused)
