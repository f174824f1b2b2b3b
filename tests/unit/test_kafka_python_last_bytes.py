"""A broker's last answer before it closes the connection reaches kafka-python's protocol."""

from __future__ import annotations

from kafka.net import transport

from zettaledger import kafka_python_last_bytes


class _Transport:
    """Reads what a socket held: the broker's answer and then its close, in one read."""

    def __init__(self, reads: list[tuple[bytes, BaseException | None]]) -> None:
        self.reads = reads

    def _sock_recv(self) -> tuple[bytes, BaseException | None]:
        return self.reads.pop(0)


def test_bytes_read_with_the_close_are_delivered_and_the_close_is_reported_next() -> None:
    closed = ConnectionError("socket disconnected")
    recv = kafka_python_last_bytes._keeping_last_bytes(_Transport._sock_recv)
    fake = _Transport([(b"error 58: invalid credentials", closed)])

    assert recv(fake) == (b"error 58: invalid credentials", None)
    assert recv(fake) == (b"", closed)


def test_ordinary_reads_and_a_bare_close_pass_through() -> None:
    closed = ConnectionError("socket disconnected")
    recv = kafka_python_last_bytes._keeping_last_bytes(_Transport._sock_recv)
    fake = _Transport([(b"response", None), (b"", closed)])

    assert recv(fake) == (b"response", None)
    assert recv(fake) == (b"", closed)


def test_install_patches_both_transports_once() -> None:
    assert kafka_python_last_bytes.install()
    tcp, ssl = transport.KafkaTCPTransport.__dict__["_sock_recv"], transport.KafkaSSLTransport.__dict__["_sock_recv"]
    assert kafka_python_last_bytes.install()
    assert transport.KafkaTCPTransport.__dict__["_sock_recv"] is tcp
    assert transport.KafkaSSLTransport.__dict__["_sock_recv"] is ssl
    assert getattr(tcp, kafka_python_last_bytes._PATCHED) and getattr(ssl, kafka_python_last_bytes._PATCHED)
