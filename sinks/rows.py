"""Ledger rows from the sums of one flush: pure functions, tested without a database.

The keys below are the cells the worker sums events into (``zettaledger.streams.cells``);
each becomes one ledger row of its ``Kind``, in ``COLUMNS`` order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from zettaledger.sinks.ledger import COLUMNS, Kind

__all__ = [
    "CollectionKey",
    "EdgeKey",
    "OutputKey",
    "RejectionKey",
    "Row",
    "TokensKey",
    "VolumeKey",
    "cell_rows",
    "dataset_row",
    "flush_token",
    "row",
    "row_maker",
    "segment_row",
    "undelivered_row",
]

Row = tuple[object, ...]
# day, source, region, adjustment, producer_id, derivation -> [events, bytes, records]
VolumeKey = tuple[int, str, str, int, str, str]
TokensKey = tuple[int, str, str, str, int]  # day, model, provider, region, adjustment -> [events, input_tokens, output_tokens]
# day, pipeline_id, region, adjustment -> [events, attempted_captures, usable_captures, attempted_bytes, usable_bytes]
CollectionKey = tuple[int, str, str, int]
EdgeKey = tuple[str, str]  # parent_id, dataset_id -> [events, bytes, earliest day]
OutputKey = tuple[str, int, str, str, str]  # dataset_id, day, source, region, derivation -> [events, bytes, records]
RejectionKey = tuple[str, str]  # event type, "error: field" -> events

_INDEX = {c.name: i for i, c in enumerate(COLUMNS)}
_BLANK = tuple(c.default for c in COLUMNS)


def row(kind: Kind, **values: Any) -> Row:
    """A ledger row of ``kind``: the named columns set, every other column at its default."""
    out = list(_BLANK)
    out[0] = kind.value
    for name, value in values.items():
        out[_INDEX[name]] = value
    return tuple(out)


def row_maker(kind: Kind, *names: str) -> Callable[..., Row]:
    """A function of ``names``' values (positional, in that order) that returns what ``row(kind, **...)`` would.

    For the cells of a flush (tens of thousands of rows): one tuple concatenation and
    one ``itemgetter`` call a row, instead of ``row``'s keyword dictionary and loop.
    """
    unknown = [n for n in names if n not in _INDEX]
    if unknown or len(set(names)) != len(names) or "kind" in names:
        raise ValueError(f"row_maker({kind.value}): unknown, repeated or reserved column names in {names}")
    defaults = tuple(dict.fromkeys(c.default for c in COLUMNS))
    tail = (kind.value, *defaults)
    at = {name: i for i, name in enumerate(names)}
    positions = [
        at[c.name] if c.name in at else len(names) if i == 0 else len(names) + 1 + defaults.index(c.default)
        for i, c in enumerate(COLUMNS)
    ]
    pick = itemgetter(*positions)

    def make(*values: object) -> Row:
        return pick(values + tail)  # type: ignore[no-any-return]

    return make


_VOLUME = row_maker(
    Kind.VOLUME, "day", "source", "region", "adjustment", "producer_id", "derivation", "events", "bytes", "records"
)
_TOKENS = row_maker(Kind.TOKENS, "day", "model", "provider", "region", "adjustment", "events", "input_tokens", "output_tokens")
_COLLECTION = row_maker(
    Kind.COLLECTION,
    "day",
    "pipeline_id",
    "region",
    "adjustment",
    "events",
    "attempted_captures",
    "usable_captures",
    "attempted_bytes",
    "usable_bytes",
)
_EDGE = row_maker(Kind.LINEAGE, "parent_id", "dataset_id", "events", "bytes", "day")
_REJECTED = row_maker(Kind.REJECTED, "source", "reason", "events")
_OUTPUT = row_maker(Kind.OUTPUT, "dataset_id", "day", "source", "region", "derivation", "events", "bytes", "records")


def cell_rows(
    volume: Mapping[VolumeKey, Sequence[int]],
    tokens: Mapping[TokensKey, Sequence[int]],
    collection: Mapping[CollectionKey, Sequence[int]],
    lineage: Mapping[EdgeKey, Sequence[int]],
    rejections: Mapping[RejectionKey, int],
    outputs: Mapping[OutputKey, Sequence[int]] | None = None,
) -> list[Row]:
    """One row per cell: volume, tokens, collection, lineage, rejected, then outputs, in that order.

    Each cell's key and sums are, in order, the columns its maker above names.
    """
    rows = [_VOLUME(*key, *sums) for key, sums in volume.items()]
    rows += [_TOKENS(*key, *sums) for key, sums in tokens.items()]
    rows += [_COLLECTION(*key, *sums) for key, sums in collection.items()]
    rows += [_EDGE(*key, *sums) for key, sums in lineage.items()]
    rows += [_REJECTED(*key, n) for key, n in rejections.items()]
    rows += [_OUTPUT(*key, *sums) for key, sums in (outputs or {}).items()]
    return rows


def dataset_row(topic: str, partition: int, offset: int, day: int, late: int, e: Mapping[str, Any]) -> Row:
    """One DatasetRegistered event, kept whole with where it came from."""
    return row(
        Kind.DATASET,
        topic=topic,
        kafka_partition=partition,
        offset_from=offset,
        offset_to=offset,
        day=day,
        event_time_ms=e["event_time"],
        region=e["region"],
        dataset_id=e["dataset_id"],
        owner=e["owner"],
        quality_grade=e["quality_grade"],
        registration_id=e["registration_id"] or "",
        adjustment=late,
        events=1,
        bytes=e["bytes"],
    )


def segment_row(
    topic: str, partition: int, first: int, last: int, stream_time_ms: int, events: int, duplicates: int, rejected: int
) -> Row:
    """The offsets a flush covers on one topic-partition, what it did with them, and the partition's stream time."""
    return row(
        Kind.SEGMENT,
        topic=topic,
        kafka_partition=partition,
        offset_from=first,
        offset_to=last,
        event_time_ms=stream_time_ms,
        events=events,
        duplicates=duplicates,
        rejected=rejected,
    )


def flush_token(spans: Iterable[tuple[str, int, int, int]]) -> str:
    """The insert-deduplication token of a flush, from where it starts in each partition (topic, partition, first).

    Not from where it ends: two writers that start a partition at the same offset (a
    zombie and the worker that took its partition over) give the same token, so
    ClickHouse's block deduplication keeps exactly one of the two inserts, whatever
    each took; the loser sees its offsets missing and plans again (``LedgerWriter.write``).
    """
    return hashlib.sha256(";".join(f"{t}:{p}:{first}" for t, p, first, _ in sorted(spans)).encode()).hexdigest()[:32]


def undelivered_row(topic: str, partition: int, offset: int, event_type: str, cause: str, sha256: str, length: int) -> Row:
    """A dead letter the broker would not take in any form, recorded in the flush instead (``kind = 'rejected'``).

    Its event is already counted under its own reason; this row (``rejected = 1``, ``events = 0``) says
    where the message is, its SHA-256 and length, so an operator can fetch it while Kafka keeps it.
    """
    return row(
        Kind.REJECTED,
        topic=topic,
        kafka_partition=partition,
        offset_from=offset,
        offset_to=offset,
        source=event_type,
        reason=f"undelivered dead letter ({cause}) sha256={sha256}",
        rejected=1,
        bytes=length,
    )
