"""The fault suite's input: a mixed, seeded stream of events in event-time order."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

from zettaledger.schemas import CollectionRun, DataCreated, DatasetRegistered, QualityGrade, Source, TokenUsage
from zettaledger.schemas.models import Event

__all__ = ["REGIONS", "T_2025", "fault_events"]

T_2025 = 1_735_689_600_000
REGIONS = ("CN-GD", "CN-JS", "CN-ZJ", "CN-BJ", "CN-SH", "CN-SD", "CN-SC", "CN-HB")


def fault_events(n: int, seed: int, start_ms: int = T_2025, spread_days: int = 60) -> Iterator[Event]:
    """A mixed stream in event-time order: mostly DataCreated, some tokens, runs and registrations."""
    rng = random.Random(seed)
    step = spread_days * 86_400_000 // max(n, 1)
    for i in range(n):
        eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t = start_ms + i * step
        region = rng.choice(REGIONS)
        roll = rng.random()
        if roll < 0.8:
            yield DataCreated(
                eid,
                t,
                "faults",
                rng.choice(list(Source)[1:]),
                region,
                "org",
                f"ds-{rng.randrange(200)}",
                rng.randrange(1, 2**62),
                rng.randrange(1, 10_000),
                (f"raw-{rng.randrange(50)}",),
            )
        elif roll < 0.9:
            yield TokenUsage(
                eid, t, "faults", f"model-{rng.randrange(4)}", "prov", region, rng.randrange(10**9), rng.randrange(10**9)
            )
        elif roll < 0.95:
            attempted = rng.randrange(1, 10_000)
            yield CollectionRun(
                eid,
                t,
                "faults",
                f"rbt-{rng.randrange(3)}",
                region,
                "ds-robot",
                attempted,
                rng.randrange(attempted + 1),
                attempted * 1000,
                attempted * 900,
            )
        else:
            yield DatasetRegistered(eid, t, "faults", f"reg-{i}", "org", region, rng.randrange(10**15), QualityGrade.HIGH)
