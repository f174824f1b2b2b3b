"""The lag gauge covers both input topics: the events topic's group and the OpenLineage feed's."""

from __future__ import annotations

import types
from typing import Any, NamedTuple, cast

from zettaledger.settings import Settings
from zettaledger.streams.worker import _gauges


class TP(NamedTuple):
    topic: str
    partition: int


class _Consumer:
    def __init__(self, highwaters: dict[TP, int | None]) -> None:
        self._highwaters = highwaters

    def assignment(self) -> set[TP]:
        return set(self._highwaters)

    def highwater(self, tp: TP) -> int | None:
        return self._highwaters[tp]


class _Accountant:
    def __init__(self, written: dict[tuple[str, int], int]) -> None:
        self._written = written
        self.stream_times: dict[tuple[str, int], int] = {}
        self.dedup: list[str] = []

    def written_through(self, topic: str, partition: int) -> int:
        return self._written.get((topic, partition), -1)


def test_lag_is_reported_per_topic_and_partition_for_both_consumer_groups() -> None:
    settings = Settings()
    events, openlineage = settings.topic_events, settings.topic_openlineage
    app = types.SimpleNamespace(consumer=_Consumer({TP(events, 0): 100, TP(events, 1): None, TP("other", 0): 9}))
    feed = types.SimpleNamespace(highwaters=lambda: {(openlineage, 3): 50})
    ingest = types.SimpleNamespace(accountant=_Accountant({(events, 0): 89, (openlineage, 3): 9}), last_progress=0.0)

    gauges = _gauges(cast(Any, app), settings, cast(Any, ingest), cast(Any, feed))

    # offsets 90..99 of the events partition and 10..49 of the OpenLineage one are not in the ledger;
    # a partition whose end is not known yet is not reported, nor a topic the worker does not ingest
    assert gauges.lag == {(events, 0): 10, (openlineage, 3): 40}
