"""Kafka client security: TLS and SASL settings, turned into what each client library takes.

``KafkaSecurity`` is built once from ``Settings`` (``KafkaSecurity.from_settings``)
and hands every Kafka client the same answer:

- ``kafka_python_options()``: keyword arguments for kafka-python's ``KafkaProducer``,
  ``KafkaConsumer`` and ``KafkaAdminClient`` (the producer library, ``zl topics``,
  ``zl dead-letters``, the worker's end-offsets helper);
- ``aiokafka_options()``: the same for aiokafka; the Faust app builds its
  ``broker_credentials`` from ``sasl`` and ``ssl_context()``;
- ``ssl_context()``: a verifying TLS context (the CA file, or the system's CAs when
  none is set; host names checked; the client certificate for mTLS when set).

The password comes from ``ZL_KAFKA_SASL_PASSWORD`` or ``ZL_KAFKA_SASL_PASSWORD_FILE``
(a mounted secret; read once at start-up, one trailing newline dropped). Setting both
is a configuration error, not a silent precedence. The password is never in a repr:
the clients get it as a ``Secret``, a ``str`` whose repr is redacted, because
kafka-python logs its whole configuration at DEBUG.

``explain(exc, doing)`` turns the clients' authentication and authorization errors
(kafka-python's or aiokafka's, found by their Kafka error code or class name anywhere
in the cause chain) into a ``KafkaAccessError`` that says which principal was refused
and which setting or ACL to fix. Both are fatal: retrying with the same credentials
cannot succeed. ``check_access(servers, topics, groups, doing)`` asks the broker up front
(a login, the topics' metadata, the group's offsets), so a worker without an ACL stops
with that message instead of waiting for partitions that never come.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from zettaledger import kafka_python_last_bytes
from zettaledger.errors import ConfigError, ZettaledgerError

if TYPE_CHECKING:
    from zettaledger.settings import Settings

__all__ = [
    "MECHANISMS",
    "PROTOCOLS",
    "KafkaAccessError",
    "KafkaAuthenticationError",
    "KafkaAuthorizationError",
    "KafkaSecurity",
    "SaslMechanism",
    "Secret",
    "SecurityProtocol",
    "security_problems",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
PROTOCOLS: Final = get_args(SecurityProtocol)
MECHANISMS: Final = get_args(SaslMechanism)

log = logging.getLogger(__name__)

# Kafka protocol error codes, the same in kafka-python and aiokafka.
_AUTHORIZATION_CODES = {
    29: "topic",  # TOPIC_AUTHORIZATION_FAILED
    30: "consumer group",  # GROUP_AUTHORIZATION_FAILED
    31: "cluster",  # CLUSTER_AUTHORIZATION_FAILED
    53: "transactional id",  # TRANSACTIONAL_ID_AUTHORIZATION_FAILED
}
_AUTHENTICATION_CODES = {58}  # SASL_AUTHENTICATION_FAILED
# Raised without a code: aiokafka's AuthenticationFailedError, kafka-python's AuthenticationFailedError.
_AUTHENTICATION_CLASSES = {"AuthenticationFailedError", "SaslAuthenticationFailedError"}


class KafkaAccessError(ZettaledgerError):
    """Kafka refused this client (its login or an ACL); fix the settings or the ACLs, retrying cannot help."""


class KafkaAuthenticationError(KafkaAccessError):
    """The broker did not accept the client's TLS handshake or SASL login."""


class KafkaAuthorizationError(KafkaAccessError):
    """The client logged in, but no ACL allows what it asked for."""


class Secret(str):
    """A password: a ``str`` for the client libraries, redacted in every repr and format of a container."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<redacted>'"


class _RefusalLog(logging.Filter):
    """Remembers the last login the broker refused, from kafka-python's own log records.

    kafka-python retries a refused SASL login until its bootstrap timeout and then raises a
    bare ``KafkaTimeoutError("Unable to bootstrap")``: the reason is only in its log. This
    filter keeps that reason (the exception in the record's arguments) so ``explain`` can
    say "wrong password" instead of "unreachable". It never drops a record.
    """

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[float, BaseException] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, BaseException) and _refusal(arg) is not None:
                self.last = (time.monotonic(), arg)
        return True

    def recent(self, within_s: float = 300.0) -> BaseException | None:
        if self.last is None or time.monotonic() - self.last[0] > within_s:
            return None
        return self.last[1]


_REFUSALS = _RefusalLog()
# The loggers kafka-python reports a refused connection on, with the exception as an argument.
_CLIENT_LOGGERS = ("kafka.net.manager", "kafka.net.connection", "kafka.net.transport", "kafka.conn", "kafka.client_async")
# A client that gave up without saying why (the reason may be in _REFUSALS).
_GAVE_UP = {"KafkaTimeoutError", "NoBrokersAvailable", "KafkaConnectionError"}


def _watch_client_logs() -> None:
    for name in _CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(_REFUSALS)  # adding the same filter twice is a no-op


def _refusal(exc: BaseException) -> str | None:
    """``"authorization:<resource>"``, ``"authentication"`` or ``"tls"`` for a refusal; None otherwise."""
    code = getattr(exc, "errno", None)
    if code in _AUTHORIZATION_CODES:
        return f"authorization:{_AUTHORIZATION_CODES[code]}"
    if code in _AUTHENTICATION_CODES or type(exc).__name__ in _AUTHENTICATION_CLASSES:
        return "authentication"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    return None


def _read_password_file(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text[:-1] if text.endswith("\n") else text


def _context(cafile: str, certfile: str, keyfile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile or None)
    if certfile:
        context.load_cert_chain(certfile, keyfile or None)
    return context


def security_problems(settings: Settings) -> list[str]:
    """Every problem with the ZL_KAFKA_SECURITY_PROTOCOL / SASL / SSL settings, each naming its variable."""
    s = settings
    out: list[str] = []
    protocol = s.kafka_security_protocol
    if protocol not in PROTOCOLS:
        out.append(f"ZL_KAFKA_SECURITY_PROTOCOL={protocol!r}: must be one of {', '.join(PROTOCOLS)}")
        return out
    sasl = protocol.startswith("SASL_")
    tls = protocol.endswith("SSL")
    if s.kafka_sasl_mechanism not in MECHANISMS:
        out.append(f"ZL_KAFKA_SASL_MECHANISM={s.kafka_sasl_mechanism!r}: must be one of {', '.join(MECHANISMS)}")
    if sasl:
        if not s.kafka_sasl_username:
            out.append(f"ZL_KAFKA_SASL_USERNAME: required with ZL_KAFKA_SECURITY_PROTOCOL={protocol}")
        if s.kafka_sasl_password and s.kafka_sasl_password_file:
            out.append("ZL_KAFKA_SASL_PASSWORD and ZL_KAFKA_SASL_PASSWORD_FILE are both set: set only one")
        elif s.kafka_sasl_password_file:
            try:
                if not _read_password_file(s.kafka_sasl_password_file):
                    out.append(f"ZL_KAFKA_SASL_PASSWORD_FILE={s.kafka_sasl_password_file}: the file is empty")
            except (OSError, UnicodeDecodeError) as exc:
                out.append(f"ZL_KAFKA_SASL_PASSWORD_FILE={s.kafka_sasl_password_file}: cannot be read ({exc})")
        elif not s.kafka_sasl_password:
            out.append(f"ZL_KAFKA_SASL_PASSWORD or ZL_KAFKA_SASL_PASSWORD_FILE: one is required with {protocol}")
    else:
        for var, value in (
            ("ZL_KAFKA_SASL_USERNAME", s.kafka_sasl_username),
            ("ZL_KAFKA_SASL_PASSWORD", s.kafka_sasl_password),
            ("ZL_KAFKA_SASL_PASSWORD_FILE", s.kafka_sasl_password_file),
        ):
            if value:
                out.append(f"{var} is set, but ZL_KAFKA_SECURITY_PROTOCOL={protocol} sends no credentials: use SASL_SSL")
    files = (
        ("ZL_KAFKA_SSL_CAFILE", s.kafka_ssl_cafile),
        ("ZL_KAFKA_SSL_CERTFILE", s.kafka_ssl_certfile),
        ("ZL_KAFKA_SSL_KEYFILE", s.kafka_ssl_keyfile),
    )
    if not tls:
        out.extend(
            f"{var} is set, but ZL_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS: use SSL or SASL_SSL"
            for var, value in files
            if value
        )
        return out
    unreadable = [f"{var}={value}: cannot be read" for var, value in files if value and not os.access(value, os.R_OK)]
    out.extend(unreadable)
    if s.kafka_ssl_keyfile and not s.kafka_ssl_certfile:
        out.append("ZL_KAFKA_SSL_KEYFILE is set without ZL_KAFKA_SSL_CERTFILE: set both for a client certificate")
    elif not unreadable:
        try:
            _context(s.kafka_ssl_cafile, "", "")
        except (ssl.SSLError, OSError) as exc:
            out.append(f"ZL_KAFKA_SSL_CAFILE={s.kafka_ssl_cafile}: not a PEM CA certificate ({exc})")
        if s.kafka_ssl_certfile:
            try:
                _context("", s.kafka_ssl_certfile, s.kafka_ssl_keyfile)
            except (ssl.SSLError, OSError) as exc:
                out.append(
                    f"ZL_KAFKA_SSL_CERTFILE={s.kafka_ssl_certfile}: no PEM certificate with a matching, "
                    f"unencrypted key (ZL_KAFKA_SSL_KEYFILE={s.kafka_ssl_keyfile or 'in the same file'}) ({exc})"
                )
    return out


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client connects to Kafka; the password is never in the repr."""

    protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: Secret = field(default=Secret(""), repr=False)
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        problems = security_problems(settings)
        if problems:
            raise ConfigError("invalid Kafka security settings:\n  " + "\n  ".join(problems))
        s = settings
        protocol = s.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        password = ""
        if sasl:
            password = _read_password_file(s.kafka_sasl_password_file) if s.kafka_sasl_password_file else s.kafka_sasl_password
        return cls(
            protocol=protocol,
            mechanism=s.kafka_sasl_mechanism,
            username=s.kafka_sasl_username if sasl else "",
            password=Secret(password),
            cafile=s.kafka_ssl_cafile,
            certfile=s.kafka_ssl_certfile,
            keyfile=s.kafka_ssl_keyfile,
        )

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol.endswith("SSL")

    @property
    def principal(self) -> str:
        """Who the broker sees: ``User:<name>`` with SASL; anonymous (or the certificate's name) without."""
        if self.sasl:
            return f"User:{self.username}"
        return "the client certificate's subject" if self.certfile else "User:ANONYMOUS"

    def describe(self) -> str:
        """For messages: ``SASL_SSL as User:worker (SCRAM-SHA-512)``; never the password."""
        if self.sasl:
            return f"{self.protocol} as {self.principal} ({self.mechanism})"
        return f"{self.protocol} as {self.principal}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying context for SSL and SASL_SSL (host names checked); None without TLS."""
        if not self.tls:
            return None
        return _context(self.cafile, self.certfile, self.keyfile)

    def kafka_python_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        _watch_client_logs()
        kafka_python_last_bytes.install()  # so a refused login is read, not lost to the close that follows it
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        return options

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients (the same names as kafka-python's)."""
        return self.kafka_python_options()

    def explain(self, exc: BaseException, doing: str) -> KafkaAccessError | None:
        """A ``KafkaAccessError`` for a refused login or a missing ACL anywhere in ``exc``'s causes; else None.

        A client that gave up bootstrapping is explained by the last refusal kafka-python logged, if recent.
        """
        causes = _causes(exc)
        for cause in causes:
            kind = _refusal(cause)
            if kind is not None:
                return self._refused(kind, cause, doing)
        recent = _REFUSALS.recent()
        if recent is not None and any(type(c).__name__ in _GAVE_UP for c in causes):
            kind = _refusal(recent)
            assert kind is not None
            return self._refused(kind, recent, doing)
        return None

    def _refused(self, kind: str, cause: BaseException, doing: str) -> KafkaAccessError:
        if kind.startswith("authorization:"):
            return KafkaAuthorizationError(
                f"{doing}: Kafka denied {self.principal} access to a {kind.partition(':')[2]} "
                f"({type(cause).__name__}: {_first_line(cause)}); grant it the ACLs it needs "
                "(scripts/kafka.sh acls, or kafka-acls as an admin) or set ZL_KAFKA_SASL_USERNAME to a user that has them"
            )
        if kind == "authentication":
            return KafkaAuthenticationError(
                f"{doing}: Kafka refused the login of {self.describe()}: check ZL_KAFKA_SASL_USERNAME, "
                "ZL_KAFKA_SASL_PASSWORD or ZL_KAFKA_SASL_PASSWORD_FILE, and ZL_KAFKA_SASL_MECHANISM"
            )
        if isinstance(cause, ssl.SSLCertVerificationError):
            return KafkaAuthenticationError(
                f"{doing}: the broker's TLS certificate is not trusted ({cause.verify_message}): set "
                "ZL_KAFKA_SSL_CAFILE to the CA that signed it, and ZL_KAFKA_BOOTSTRAP to a name the certificate is for"
            )
        return KafkaAuthenticationError(
            f"{doing}: the TLS handshake with Kafka failed ({_first_line(cause)}): check ZL_KAFKA_SECURITY_PROTOCOL "
            "against the broker's listener, and ZL_KAFKA_SSL_CERTFILE / ZL_KAFKA_SSL_KEYFILE if it wants a client certificate"
        )

    def check_access(
        self, servers: Sequence[str], topics: Sequence[str], groups: Sequence[str], doing: str, timeout_s: float = 10.0
    ) -> None:
        """Fail fast when this principal cannot log in, describe ``topics`` or use ``groups``.

        Raises ``KafkaAccessError`` with the principal and what to grant. Anything else (the broker
        unreachable, a topic not created yet) is only logged: the clients keep waiting as before.
        Without DESCRIBE on a topic Kafka answers "not authorized" whether or not it exists.
        """
        from kafka.admin import KafkaAdminClient  # lazy: only the processes that check pay for it

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=list(servers),
                client_id="zl-access-check",
                bootstrap_timeout_ms=int(timeout_s * 1000),
                **self.kafka_python_options(),
            )
        except Exception as exc:
            self._raise_if_refused(exc, doing)
            return
        try:
            for topic in admin.describe_topics(list(topics)):
                if topic.get("error_code") in _AUTHORIZATION_CODES:
                    raise KafkaAuthorizationError(
                        f"{doing}: Kafka denied {self.principal} access to topic {topic.get('name')} "
                        "(TOPIC_AUTHORIZATION_FAILED; Kafka says this too when the topic does not exist and the user "
                        "may not describe it): grant it the ACLs it needs (scripts/kafka.sh acls, or kafka-acls as an "
                        "admin) or set ZL_KAFKA_SASL_USERNAME to a user that has them"
                    )
            for group in groups:
                admin.list_group_offsets(group)
        except KafkaAccessError:
            raise
        except Exception as exc:
            self._raise_if_refused(exc, doing)
        finally:
            admin.close()

    def _raise_if_refused(self, exc: BaseException, doing: str) -> None:
        refused = self.explain(exc, doing)
        if refused is not None:
            raise refused from exc
        # A coordinator still being elected (a broker just started) is routine and retried by the
        # clients themselves: worth a line only when someone asks for detail. Anything else may need action.
        routine = any(getattr(cause, "retriable", False) for cause in _causes(exc))
        log.log(
            logging.INFO if routine else logging.WARNING,
            "%s: could not check Kafka access (%s); the clients will keep trying",
            doing,
            _first_line(exc),
        )


def _first_line(exc: BaseException, most: int = 160) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= most else line[:most] + "..."


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
