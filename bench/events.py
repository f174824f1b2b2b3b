"""Benchmark events: DataCreated-heavy, about 200 bytes each in Avro, like real producers' reports."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

from zettaledger.schemas import DataCreated, Source, TokenUsage
from zettaledger.schemas.models import Event

REGIONS = ("CN-GD", "CN-JS", "CN-ZJ", "CN-BJ", "CN-SH", "CN-SD", "CN-SC", "CN-HB", "CN-HA", "CN-FJ", "CN-HN", "CN-AH")
T_2025 = 1_735_689_600_000


def bench_events(n: int, seed: int = 1, start_ms: int = T_2025) -> Iterator[Event]:
    rng = random.Random(seed)
    sources = list(Source)[1:]
    for i in range(n):
        eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t = start_ms + i * 37  # a steady stream: about 1.2 days per million events
        region = REGIONS[i % len(REGIONS)]
        if i % 10 == 9:
            yield TokenUsage(
                eid,
                t,
                f"gateway-{region.lower()}-{i % 7:02d}",
                f"chat-large-2025-{i % 5}",
                "provider-national-ai",
                region,
                rng.randrange(10**9),
                rng.randrange(10**8),
            )
        else:
            yield DataCreated(
                eid,
                t,
                f"collector-{region.lower()}-{i % 13:02d}",
                sources[i % 4],
                region,
                f"org-{region.lower()}-statistics-bureau-{i % 17:02d}",
                f"ds-2025-{region.lower()}-sensor-network-{i % 997:06d}",
                rng.randrange(1, 2**50),
                rng.randrange(1, 10**6),
                (f"ds-2024-{region.lower()}-raw-archive-{i % 997 % 101:05d}",),  # a dataset keeps its parents
            )
