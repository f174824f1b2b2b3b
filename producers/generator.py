"""Deterministic synthetic events whose exact integer sums reproduce ``producers.seed``.

``generate(size, seed)`` returns a ``NationalStream``. Iterating it yields
DataCreated, TokenUsage, DatasetRegistered and CollectionRun events in event-time
order, lazily; ``stream.manifest`` states exactly what those events add up to, and
is computed from the same plan the events are cut from, without building them.

``size`` sets how finely each total is cut (how many events), never the totals:
every figure in the manifest except the event counts is the same at every size.
The same ``(size, seed)`` gives the same events with the same ids, on any machine:
only integer arithmetic, IEEE-exact float operations and correctly rounded
``decimal`` functions decide an amount (no libm ``exp``/``pow``).

The parts, in the order they run:

- ``seed``: the published totals, as exact integers;
- ``catalog``: the register of datasets and their lineage (per seed, any size);
- ``plan``: each total cut into reporting periods (the calibration);
- ``manifest``: what the events add up to, summed from the plan;
- ``events``: one builder per event kind, cutting a period's amounts into events;
- ``stream``: the builders merged into one event-time order;
- ``apportion`` and ``timeline``: the exact cutting and the time helpers all of them use.
"""

from __future__ import annotations

from zettaledger.producers.apportion import split_exact
from zettaledger.producers.manifest import Manifest, PipelineTotals, build_manifest
from zettaledger.producers.plan import MAX_EVENT_BYTES, make_plan
from zettaledger.producers.stream import NationalStream

__all__ = ["MAX_EVENT_BYTES", "Manifest", "NationalStream", "PipelineTotals", "generate", "split_exact"]


def generate(size: float = 1.0, seed: int = 2025, producer_id: str = "zl-national-generator") -> NationalStream:
    """The national stream for ``(size, seed)``; ``size`` 1.0 is about 461k events, 0.05 about 146k.

    Cheap to call: it plans the totals per period and builds the register (cached
    per seed); the events themselves are made while iterating.
    """
    if not (0 < size < float("inf")):
        raise ValueError(f"size={size!r}: must be a positive finite number (1.0 is about 460k events)")
    if not producer_id:
        raise ValueError("producer_id must not be empty")
    plan = make_plan(size, seed)
    return NationalStream(size, seed, producer_id, build_manifest(size, seed, plan), plan)
