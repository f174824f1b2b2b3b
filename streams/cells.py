"""The sums of one flush: counted events added into cells, and the offsets covered per partition.

A cell is one ledger row to be: its key and its sums are laid out in
``zettaledger.sinks.rows``, which turns them into rows. Sums are Python ints, exact
past 2^64. The DataCreated batch loop (``zettaledger.streams.tally``, the hot path)
adds into ``volume`` and ``lineage`` itself with the same layout; the other event
types, rarer, come through the methods here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zettaledger.sinks.rows import (
    CollectionKey,
    EdgeKey,
    OutputKey,
    RejectionKey,
    Row,
    TokensKey,
    VolumeKey,
    cell_rows,
    dataset_row,
    segment_row,
)

__all__ = ["Cells", "Segment"]


class Segment:
    """The offsets of one topic-partition in a flush, and what became of their events."""

    __slots__ = ("duplicates", "events", "first", "last", "rejected")

    def __init__(self, offset: int) -> None:
        self.first = offset
        self.last = offset
        self.events = 0
        self.duplicates = 0
        self.rejected = 0


class Cells:
    """Cells of one flush, and its segments."""

    def __init__(self) -> None:
        self.volume: dict[VolumeKey, list[int]] = {}
        self.tokens: dict[TokensKey, list[int]] = {}
        self.collection: dict[CollectionKey, list[int]] = {}
        self.lineage: dict[EdgeKey, list[int]] = {}
        self.outputs: dict[OutputKey, list[int]] = {}  # DataCreated bytes per dataset: the lineage graph's nodes
        self.extra: list[Row] = []  # rows planned elsewhere (the OpenLineage fold), written after the cells
        self.datasets: list[Row] = []
        self.segments: dict[tuple[str, int], Segment] = {}

    def segment(self, key: tuple[str, int], offset: int) -> Segment:
        """The segment of a topic-partition, widened to cover ``offset``."""
        segment = self.segments.get(key)
        if segment is None:
            segment = self.segments[key] = Segment(offset)
        elif offset < segment.first:
            segment.first = offset
        elif offset > segment.last:
            segment.last = offset
        return segment

    def add_tokens(self, e: Mapping[str, Any], day: int, late: int) -> None:
        key = (day, e["model"], e["provider"], e["region"], late)
        cell = self.tokens.get(key)
        if cell is None:
            cell = self.tokens[key] = [0, 0, 0]
        cell[0] += 1
        cell[1] += e["input_tokens"]
        cell[2] += e["output_tokens"]

    def add_collection(self, e: Mapping[str, Any], day: int, late: int) -> None:
        key = (day, e["pipeline_id"], e["region"], late)
        cell = self.collection.get(key)
        if cell is None:
            cell = self.collection[key] = [0, 0, 0, 0, 0]
        cell[0] += 1
        cell[1] += e["attempted_captures"]
        cell[2] += e["usable_captures"]
        cell[3] += e["attempted_bytes"]
        cell[4] += e["usable_bytes"]

    def add_dataset(self, topic: str, partition: int, offset: int, e: Mapping[str, Any], day: int, late: int) -> None:
        self.datasets.append(dataset_row(topic, partition, offset, day, late, e))
        for parent in dict.fromkeys(e["parent_dataset_ids"]):  # a parent named twice is one edge
            self.add_edge(parent, e["dataset_id"], day, 0)

    def add_edge(self, parent: str, child: str, day: int, derived_bytes: int) -> None:
        cell = self.lineage.get((parent, child))
        if cell is None:
            self.lineage[(parent, child)] = [1, derived_bytes, day]
        else:
            cell[0] += 1
            cell[1] += derived_bytes
            if day < cell[2]:
                cell[2] = day

    def rows(self, rejections: Mapping[RejectionKey, int], stream_times: Mapping[tuple[str, int], int]) -> list[Row]:
        """The flush's ledger rows: cells, rejections, datasets, then one segment row per partition in order."""
        rows = cell_rows(self.volume, self.tokens, self.collection, self.lineage, rejections, self.outputs)
        rows += self.datasets
        rows += self.extra
        rows += [
            segment_row(
                topic, partition, s.first, s.last, stream_times.get((topic, partition), 0), s.events, s.duplicates, s.rejected
            )
            for (topic, partition), s in sorted(self.segments.items())
        ]
        return rows
