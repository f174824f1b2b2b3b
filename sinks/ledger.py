"""The ledger: one ClickHouse table that holds every figure Zettaledger has counted.

Why one table: a flush writes all it counted for a set of Kafka offsets in ONE
insert into this unpartitioned MergeTree, which ClickHouse stores as one part,
so a flush is in the database whole or not at all. Each flush also writes one
``segment`` row per topic-partition with the offsets it covers; the worker
resumes after the highest of those (the sink, not Kafka, owns the offsets).

Sums are UInt256: byte totals pass 2^64 (1.8e19 B, 18 EB) long before a zettabyte.
This module is plain Python (no ClickHouse import), so row building is tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["COLUMNS", "COLUMN_NAMES", "SEEN_COLUMNS", "Flush", "Kind", "LedgerColumn"]


class Kind(StrEnum):
    """What a ledger row counts."""

    SEGMENT = "segment"  # offsets a flush covered, its counts, and the partition's stream time (event_time_ms)
    VOLUME = "volume"  # DataCreated bytes and records by (day, source, region)
    TOKENS = "tokens"  # TokenUsage by (day, model, provider, region)
    DATASET = "dataset"  # one DatasetRegistered event
    COLLECTION = "collection"  # CollectionRun captures by (day, pipeline, region)
    LINEAGE = "lineage"  # one parent -> child edge seen in a flush
    REJECTED = "rejected"  # dead-lettered events by (kind, field, reason)
    # OpenLineage (migration 8, sinks/lineage.py): a run and one of its outputs at one moment,
    # an input that run read, and a dataset named by a DatasetEvent or JobEvent.
    RUN = "run"
    RUN_INPUT = "run_input"
    TOUCH = "touch"
    # Native DataCreated bytes per dataset (migration 8): the lineage graph's node bytes and the
    # attribution's seeds and roots, by (dataset, day, source, region, derivation).
    OUTPUT = "output"


@dataclass(frozen=True)
class LedgerColumn:
    name: str
    sql_type: str
    default: object


_U256 = "UInt256"
_LC = "LowCardinality(String)"

# Order matters: rows are tuples in this order.
COLUMNS: tuple[LedgerColumn, ...] = (
    LedgerColumn("kind", "Enum8(" + ", ".join(f"'{k.value}' = {i}" for i, k in enumerate(Kind, 1)) + ")", ""),
    LedgerColumn("topic", _LC, ""),
    LedgerColumn("kafka_partition", "UInt32", 0),
    LedgerColumn("offset_from", "UInt64", 0),
    LedgerColumn("offset_to", "UInt64", 0),
    LedgerColumn("day", "Date", 0),  # days since 1970-01-01
    LedgerColumn("event_time_ms", "Int64", 0),
    LedgerColumn("source", _LC, ""),
    LedgerColumn("region", _LC, ""),
    LedgerColumn("model", _LC, ""),
    LedgerColumn("provider", _LC, ""),
    LedgerColumn("pipeline_id", _LC, ""),
    LedgerColumn("dataset_id", "String", ""),
    LedgerColumn("parent_id", "String", ""),
    LedgerColumn("owner", "String", ""),
    LedgerColumn("quality_grade", _LC, ""),
    LedgerColumn("registration_id", "String", ""),
    LedgerColumn("reason", "String", ""),
    # 1 on cells of events later than the lateness limit: counted in their own
    # event-time cell, and kept apart so a published period shows its revisions.
    LedgerColumn("adjustment", "UInt8", 0),
    LedgerColumn("events", "UInt64", 0),
    LedgerColumn("duplicates", "UInt64", 0),
    LedgerColumn("rejected", "UInt64", 0),
    LedgerColumn("bytes", _U256, 0),
    LedgerColumn("records", _U256, 0),
    LedgerColumn("input_tokens", _U256, 0),
    LedgerColumn("output_tokens", _U256, 0),
    LedgerColumn("attempted_captures", _U256, 0),
    LedgerColumn("usable_captures", _U256, 0),
    LedgerColumn("attempted_bytes", _U256, 0),
    LedgerColumn("usable_bytes", _U256, 0),
    # Who reported a volume cell, for disclosure control (migration 5 appends it last on existing
    # ledgers, so it stays last here). '' until the accountant fills it: read as an unknown reporter.
    LedgerColumn("producer_id", _LC, ""),
    # How a volume cell's bytes came to be: ORIGINAL (no parents), DERIVED (from parents) or COPY
    # (a replica); migration 7 appends it. '' on rows written before it: unclassified.
    LedgerColumn("derivation", _LC, ""),
    # OpenLineage runs (migration 8 appends them): the run, its status (START ... COMPLETE/FAIL/ABORT;
    # DATASET/JOB on touch rows), its job, whether the row carries statistics, and SUSPECT_* bits.
    LedgerColumn("run_id", "String", ""),
    LedgerColumn("status", _LC, ""),
    LedgerColumn("job", "String", ""),
    LedgerColumn("has_stats", "UInt8", 0),
    LedgerColumn("suspect", "UInt8", 0),
    # 1 on a ``run`` row of a flush that wrote no ``run_input`` row for its run and output (migration 11): a run
    # whose rows all say so has no inputs, so an attribution's level of roots reads no edges. 0 (every row
    # written before the column, and any other kind) claims nothing.
    LedgerColumn("no_inputs", "UInt8", 0),
)
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)

# Event ids seen per partition, for dropping producer resends within the horizon.
SEEN_COLUMNS: tuple[LedgerColumn, ...] = (
    LedgerColumn("topic", _LC, ""),
    LedgerColumn("kafka_partition", "UInt32", 0),
    LedgerColumn("event_id", "UUID", ""),
    LedgerColumn("offset", "UInt64", 0),
    LedgerColumn("batch_index", "UInt32", 0),
    LedgerColumn("seen_at", "DateTime", 0),
)


@dataclass(frozen=True)
class Flush:
    """Everything one flush writes: ledger rows (tuples in ``COLUMN_NAMES`` order) and seen event ids.

    ``token`` names the offsets covered, so a retried insert of the same flush is
    recognised by ClickHouse (``insert_deduplication_token``) and stored once.
    """

    token: str
    rows: list[tuple[object, ...]]
    seen: list[list[Any]]  # columns in SEEN_COLUMNS order, or [] when no event was counted
    # First offset per topic-partition: the write is refused if the ledger already
    # holds any of them (another worker, or this one before a rebalance, wrote them).
    starts: dict[tuple[str, int], int] = field(default_factory=dict)
