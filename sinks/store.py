"""The ledger as the worker sees it, whatever holds it, and its verbs on the wire.

``LedgerStore`` is the one declaration of the verbs. ``LedgerWriter`` writes through
clickhouse-connect (chDB or a server). ``RemoteLedger`` writes through a ledger host
(``zl ledger-host``): one process that owns a chDB directory and serialises the
writes of several workers on one machine. ``WIRE`` says how each verb travels
between them; the host's dispatch and the client's calls are both built from it,
and it is checked against the Protocol when this module is imported.
``open_store`` picks by URL: ``ledger+http(s)://host:port`` for a ledger host.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from zettaledger.sinks.ledger import Flush

if TYPE_CHECKING:
    from pathlib import Path

    from clickhouse_connect.driver.client import Client

    from zettaledger.failpoints import Failpoints

__all__ = ["LEDGER_HOST_SCHEME", "LEDGER_HOST_TLS_SCHEME", "WIRE", "LedgerStore", "WireVerb", "clickhouse_store", "open_store"]

LEDGER_HOST_SCHEME = "ledger+http://"
LEDGER_HOST_TLS_SCHEME = "ledger+https://"


class LedgerStore(Protocol):
    # True where no other writer can exist (the chDB directory is held by this process): flushes
    # then need not be cut per partition for the storage to fence a zombie, and need no fencing reads.
    single_writer: bool

    def setup(self, cluster: str | None = None, dedup_horizon_hours: int = 24) -> None: ...
    def write(self, flush: Flush) -> None: ...
    def watermarks(self, topic: str) -> dict[int, int]: ...
    def stream_times(self, topic: str) -> dict[int, int]: ...
    def sightings(self, topic: str, ids: dict[int, list[str]], since_s: int) -> dict[str, tuple[int, int, int, int]]: ...
    def holds(self, marks: dict[tuple[str, int], int]) -> bool: ...


Arguments = dict[str, Any]


@dataclass(frozen=True)
class WireVerb:
    """One ``LedgerStore`` verb over HTTP, at ``/v1/<database>/<name>``.

    ``GET`` verbs carry their arguments as query parameters, ``POST`` verbs as a
    JSON body. ``arguments_out`` turns the call's arguments (bound to the Protocol's
    signature, defaults applied) into that payload, ``arguments_in`` turns it back
    into keyword arguments; ``result_out``/``result_in`` do the same for the result.
    """

    name: str
    method: Literal["GET", "POST"]
    arguments_out: Callable[[Arguments], dict[str, Any]]
    arguments_in: Callable[[dict[str, Any]], Arguments]
    result_out: Callable[[Any], Any]
    result_in: Callable[[Any], Any]

    def bind(self, *args: Any, **kwargs: Any) -> Arguments:
        """The call's arguments by name, as the Protocol declares them (defaults filled in)."""
        bound = inspect.signature(getattr(LedgerStore, self.name)).bind(None, *args, **kwargs)
        bound.apply_defaults()
        return {k: v for k, v in bound.arguments.items() if k != "self"}


def _marks_out(marks: dict[tuple[str, int], int]) -> list[list[Any]]:
    return [[t, p, o] for (t, p), o in marks.items()]


def _marks_in(triples: list[list[Any]]) -> dict[tuple[str, int], int]:
    return {(str(t), int(p)): int(o) for t, p, o in triples}


def _by_partition_out(values: dict[int, int]) -> dict[str, int]:
    return {str(p): v for p, v in values.items()}


def _by_partition_in(values: dict[str, Any]) -> dict[int, int]:
    return {int(p): int(v) for p, v in values.items()}


def _nothing(_: Any) -> Any:
    return {}


def _topic_in(query: dict[str, Any]) -> Arguments:
    return {"topic": query["topic"]}


def _topic_out(a: Arguments) -> dict[str, Any]:
    return {"topic": a["topic"]}


WIRE: dict[str, WireVerb] = {
    v.name: v
    for v in (
        WireVerb(
            "setup",
            "POST",
            lambda a: {"cluster": a["cluster"], "dedup_horizon_hours": a["dedup_horizon_hours"]},
            lambda b: {"cluster": b.get("cluster"), "dedup_horizon_hours": int(b.get("dedup_horizon_hours", 24))},
            _nothing,
            lambda _: None,
        ),
        WireVerb(
            "write",
            "POST",
            lambda a: {
                "token": a["flush"].token,
                "rows": a["flush"].rows,
                "seen": a["flush"].seen,
                "starts": _marks_out(a["flush"].starts),
            },
            lambda b: {"flush": Flush(b["token"], [tuple(r) for r in b["rows"]], b["seen"], _marks_in(b["starts"]))},
            _nothing,
            lambda _: None,
        ),
        WireVerb("watermarks", "GET", _topic_out, _topic_in, _by_partition_out, _by_partition_in),
        WireVerb("stream_times", "GET", _topic_out, _topic_in, _by_partition_out, _by_partition_in),
        WireVerb(
            "sightings",
            "POST",
            lambda a: {"topic": a["topic"], "ids": {str(p): ids for p, ids in a["ids"].items()}, "since_s": a["since_s"]},
            lambda b: {
                "topic": str(b["topic"]),
                "ids": {int(p): [str(i) for i in ids] for p, ids in b["ids"].items()},
                "since_s": int(b["since_s"]),
            },
            lambda found: {event_id: list(place) for event_id, place in found.items()},
            lambda found: {str(event_id): (int(p), int(o), int(i), int(s)) for event_id, (p, o, i, s) in found.items()},
        ),
        WireVerb(
            "holds",
            "POST",
            lambda a: {"marks": _marks_out(a["marks"])},
            lambda b: {"marks": _marks_in(b["marks"])},
            lambda held: {"holds": bool(held)},
            lambda answer: bool(answer["holds"]),
        ),
    )
}


def _protocol_verbs() -> set[str]:
    return {name for name, member in vars(LedgerStore).items() if callable(member) and not name.startswith("_")}


if set(WIRE) != _protocol_verbs():  # a verb added to the Protocol must say how it travels
    raise TypeError(f"sinks.store.WIRE {sorted(WIRE)} does not match LedgerStore's verbs {sorted(_protocol_verbs())}")


def open_store(
    dsn: str,
    database: str,
    failpoints: Failpoints | None = None,
    *,
    token_file: Path | None = None,
    ca_file: str = "",
    timeout_s: float = 30.0,
) -> LedgerStore:
    """The store at ``dsn``. With ``failpoints`` that name any point (the fault suite), the
    ClickHouse writer is wrapped so they fire. Through a ledger host, the writes (and
    so the write failpoints) happen in the host: see ``sinks.host.serve``; its token is
    read from ``token_file``. ``ca_file`` verifies https servers, ``timeout_s`` bounds a request."""
    if dsn.startswith((LEDGER_HOST_SCHEME, LEDGER_HOST_TLS_SCHEME)):
        from zettaledger.sinks.remote import RemoteLedger

        return RemoteLedger(dsn.removeprefix("ledger+"), database, token_file=token_file, ca_file=ca_file)
    from zettaledger.sinks.client import connect, mark_owner

    client = connect(dsn, timeout_s=timeout_s, ca_file=ca_file)
    mark_owner(dsn)
    return clickhouse_store(client, database, failpoints, single_writer=dsn.startswith("chdb:"))


def store_client(store: LedgerStore | None) -> Client | None:
    """The ClickHouse client of a store opened in this process (for the worker's live reads); None otherwise."""
    from zettaledger.sinks.writer import LedgerWriter

    return store.client if isinstance(store, LedgerWriter) else None


def clickhouse_store(
    client: Client, database: str, failpoints: Failpoints | None = None, single_writer: bool = False
) -> LedgerStore:
    """A ``LedgerWriter`` on ``client``; wrapped so that ``failpoints`` fire when they name any point."""
    from zettaledger.sinks.writer import LedgerWriter

    if failpoints is not None and failpoints.spec:
        from zettaledger.sinks.failpoint_store import FailpointStore

        return FailpointStore(client, database, failpoints, single_writer)
    return LedgerWriter(client, database, single_writer)
