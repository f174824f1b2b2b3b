"""kafka-python keeps the bytes a broker sent just before it closed the connection.

kafka-python 3.0's transports read a socket until it would block, and when the same read
sees the peer close, they drop what was read and abort with "socket disconnected". A Kafka
broker that refuses a SASL login sends its answer (error 58, "invalid credentials") and
closes the connection together, after ``connection.failed.authentication.delay.ms``. Whether
the answer is read before the close is a race: on a loaded machine every attempt of a
bootstrap lost it, and a wrong password surfaced as "Unable to bootstrap" with no reason
(measured: 8 of 8 attempts in one CI run; about half the attempts on a quiet machine).

``install()`` wraps each transport's ``_sock_recv`` so those last bytes reach the protocol
first and the close is reported at the next read; the protocol aborts with the broker's own
error in between, which ``explain`` then reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PATCHED = "_zettaledger_keeps_last_bytes"
_HELD_ERROR = "_zettaledger_held_error"


def _keeping_last_bytes(recv: Callable[[Any], tuple[bytes, BaseException | None]]) -> Callable[[Any], Any]:
    def _sock_recv(transport: Any) -> tuple[bytes, BaseException | None]:
        held = transport.__dict__.pop(_HELD_ERROR, None)
        if held is not None:
            return b"", held
        data, err = recv(transport)
        if err is not None and data:
            # The read loop hands these bytes to the protocol and waits for the socket again;
            # the protocol's own abort (a refused login) runs first, and the next read, which
            # the closed socket answers at once, reports the close if nothing else did.
            transport.__dict__[_HELD_ERROR] = err
            return data, None
        return data, err

    setattr(_sock_recv, _PATCHED, True)
    return _sock_recv


def install() -> bool:
    """Patch kafka-python's TCP and SSL transports once; False if this kafka-python has none to patch."""
    try:
        from kafka.net import transport
    except ImportError:  # another kafka-python layout: nothing of ours depends on the patch
        return False
    patched = False
    for name in ("KafkaTCPTransport", "KafkaSSLTransport"):
        cls = getattr(transport, name, None)
        recv = getattr(cls, "__dict__", {}).get("_sock_recv")
        if cls is None or recv is None:
            continue
        if not getattr(recv, _PATCHED, False):
            cls._sock_recv = _keeping_last_bytes(recv)
        patched = True
    return patched
