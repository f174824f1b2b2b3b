"""The OpenLineage events of one flush, folded into ledger rows. Plain Python: no Faust, no ClickHouse.

``fold(events)`` is pure: it neither reads nor changes any state, so a re-plan after a
ledger conflict folds the same messages into the same rows. The rule that makes run
accounting exact lives in the database (``sinks.lineage``: per run and output, the
latest statistics and the latest terminal status, resolved over every row ever
written); this fold only writes less than one row per event, and keeps what the rule needs:

- per (run, output): the row of the latest event with statistics (its version), and the
  row of the latest terminal event (or, without one, of the latest event), when they differ;
- per run without outputs: the latest terminal (or latest) event, so a FAIL is visible;
- per (run, input, output): one ``run_input`` row (the edge), self-edges left out (a run
  that rewrites its own input does not make the dataset its own parent); the run rows of a
  (run, output) for which the flush wrote no such row say ``no_inputs``, so a reader can
  tell a run without inputs from its run rows alone (every ``run_input`` row lands in the
  same insert as a run row of its run and output that does not say it);
- per dataset named by a DatasetEvent or JobEvent: ``touch`` rows at its first and last time.

"Latest" is by version ``(event_time_ms, partition, offset)``, exactly as the SQL orders,
so folding first and resolving after is the same as resolving every event
(tests/unit/test_openlineage_runs.py proves it on random interleavings and resends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from zettaledger.schemas.openlineage import (
    DatasetObservation,
    JobObservation,
    Observation,
    OutputVolume,
    RunObservation,
)

__all__ = ["MAX_EDGES_PER_EVENT", "Located", "fold"]

MAX_EDGES_PER_EVENT = 10_000  # inputs x outputs of one event; the decoder caps each at 1,000
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Located:
    """An observation and where it was read: the version is (event time, partition, offset)."""

    observation: Observation
    topic: str
    partition: int
    offset: int


Version = tuple[int, int, int]
Row = dict[str, object]


def _version(e: Located, t: int) -> Version:
    return (t, e.partition, e.offset)


def _run_row(e: Located, run: RunObservation, out: OutputVolume | None, with_stats: bool, no_inputs: bool) -> Row:
    row: Row = {
        "kind": "run",
        "topic": e.topic,
        "kafka_partition": e.partition,
        "offset_from": e.offset,
        "offset_to": e.offset,
        "day": run.event_time_ms // _DAY_MS,
        "event_time_ms": run.event_time_ms,
        "source": run.source,
        "region": run.region,
        "run_id": run.run_id,
        "status": run.state.value,
        "job": run.job,
        "events": 1,
        "no_inputs": int(no_inputs),
    }
    if out is not None:
        row["dataset_id"] = out.dataset
        row["derivation"] = out.derivation.value
        if with_stats:
            row["has_stats"] = 1
            row["bytes"] = out.bytes or 0
            row["records"] = out.records or 0
            row["suspect"] = out.suspect
    return row


def fold(events: Iterable[Located]) -> list[Row]:
    """Ledger rows (column -> value) for the OpenLineage events of one flush, in a stable order."""
    stats: dict[tuple[str, str], tuple[Version, Located, RunObservation, OutputVolume]] = {}
    status: dict[tuple[str, str], tuple[tuple[bool, Version], Located, RunObservation, OutputVolume | None]] = {}
    edges: dict[tuple[str, str, str], Located] = {}
    touches: dict[tuple[str, str], tuple[Located, Located, int, int]] = {}
    for e in events:
        obs = e.observation
        if isinstance(obs, RunObservation):
            v = _version(e, obs.event_time_ms)
            rank = (obs.state.terminal, v)  # a terminal event outranks any later non-terminal one
            targets: tuple[OutputVolume | None, ...] = obs.outputs or (None,)
            for out in targets:
                key = (obs.run_id, out.dataset if out else "")
                if out is not None and out.has_stats and (key not in stats or stats[key][0] < v):
                    stats[key] = (v, e, obs, out)
                if key not in status or status[key][0] < rank:
                    status[key] = (rank, e, obs, out)
            if obs.outputs and obs.inputs and len(obs.inputs) * len(obs.outputs) <= MAX_EDGES_PER_EVENT:
                for out in obs.outputs:
                    for parent in obs.inputs:
                        if parent != out.dataset:
                            edges.setdefault((obs.run_id, parent, out.dataset), e)
        elif isinstance(obs, DatasetObservation | JobObservation):
            kind = "DATASET" if isinstance(obs, DatasetObservation) else "JOB"
            names = (obs.dataset,) if isinstance(obs, DatasetObservation) else (*obs.inputs, *obs.outputs)
            for name in names:
                seen = touches.get((name, kind))
                if seen is None:
                    touches[(name, kind)] = (e, e, obs.event_time_ms, obs.event_time_ms)
                else:
                    first, last, lo, hi = seen
                    touches[(name, kind)] = (
                        first if lo <= obs.event_time_ms else e,
                        last if hi >= obs.event_time_ms else e,
                        min(lo, obs.event_time_ms),
                        max(hi, obs.event_time_ms),
                    )
    rows: list[Row] = []
    with_inputs = {(run_id, child) for run_id, _, child in edges}  # a run row says no_inputs only when none was written
    for key in sorted(status.keys() | stats.keys()):
        no_inputs = key not in with_inputs
        with_stats = stats.get(key)
        if with_stats is not None:
            _, e, run, out = with_stats
            rows.append(_run_row(e, run, out, True, no_inputs))
        latest = status.get(key)
        if latest is not None and (with_stats is None or latest[1] is not with_stats[1]):
            _, e, run, maybe_out = latest
            rows.append(_run_row(e, run, maybe_out, False, no_inputs))
    for (run_id, parent, child), e in sorted(edges.items()):
        rows.append(
            {
                "kind": "run_input",
                "topic": e.topic,
                "kafka_partition": e.partition,
                "offset_from": e.offset,
                "offset_to": e.offset,
                "run_id": run_id,
                "parent_id": parent,
                "dataset_id": child,
                "events": 1,
            }
        )
    for (name, kind), (first, last, lo, hi) in sorted(touches.items()):
        for e, t in ((first, lo), (last, hi)) if lo != hi else ((first, lo),):
            rows.append(
                {
                    "kind": "touch",
                    "topic": e.topic,
                    "kafka_partition": e.partition,
                    "offset_from": e.offset,
                    "offset_to": e.offset,
                    "day": t // _DAY_MS,
                    "event_time_ms": t,
                    "dataset_id": name,
                    "status": kind,
                    "events": 1,
                }
            )
    return rows
