"""What Zettaledger keeps of an OpenLineage event: plain frozen values, no JSON left in them.

An OpenLineage event becomes one ``Observation``:

- ``RunObservation`` for a RunEvent: the run, its job, its inputs and outputs (each output
  with the statistics and derivation read from its facets), and the run's source and region;
- ``DatasetObservation`` for a DatasetEvent and ``JobObservation`` for a JobEvent: they touch
  datasets (first and last seen, the kinds of event that named them) but carry no volume
  and draw no edges: only a run moves data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from zettaledger.schemas.validation import EventRejected

__all__ = [
    "DatasetObservation",
    "Derivation",
    "JobObservation",
    "Observation",
    "OpenLineageRejected",
    "OutputVolume",
    "RunObservation",
    "RunState",
]


class Derivation(StrEnum):
    """How the bytes of a dataset came to be (the same three values as ``DataCreated.derivation``)."""

    ORIGINAL = "ORIGINAL"  # created or captured: no input dataset
    DERIVED = "DERIVED"  # computed from inputs: new information
    COPY = "COPY"  # the same information again (replica, backup, identity transform)


class RunState(StrEnum):
    """``eventType`` of a RunEvent. Only COMPLETE counts; FAIL and ABORT are recorded and count nothing."""

    START = "START"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    ABORT = "ABORT"
    FAIL = "FAIL"
    OTHER = "OTHER"

    @property
    def terminal(self) -> bool:
        return self in (RunState.COMPLETE, RunState.ABORT, RunState.FAIL)


# Bits of ``OutputVolume.suspect``: statistics that look wrong are flagged and kept out of the accounts.
SUSPECT_SIZE_BELOW_ROWS = 1  # size < rowCount: rows reported in the size field (OpenLineage#3550)
SUSPECT_NO_SIZE = 2  # rowCount without size: the bytes are unknown


class OpenLineageRejected(EventRejected):
    """An OpenLineage message that cannot be counted.

    ``code`` is the dead-letter error code (``zl.error.code``): ``corrupt_body`` (not UTF-8
    JSON), ``invalid_openlineage`` (breaks the vendored spec schema; ``field`` is the JSON
    path), ``invalid_field`` (meets the spec but breaks one of our rules) or ``too_large``.
    """

    def __init__(self, kind: str, field: str, value: object, reason: str, code: str = "invalid_field") -> None:
        super().__init__(kind, field, value, reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class OutputVolume:
    """One output of a run. ``bytes``/``records`` are None when the event carried no statistics."""

    dataset: str
    derivation: Derivation
    bytes: int | None = None
    records: int | None = None
    suspect: int = 0  # SUSPECT_* bits

    @property
    def has_stats(self) -> bool:
        return self.bytes is not None or self.records is not None


@dataclass(frozen=True, slots=True)
class RunObservation:
    run_id: str  # lower-case UUID
    state: RunState
    event_time_ms: int
    job: str  # job identity, namespace/name
    source: str  # IOT, AI, TRAINING, INFERENCE or OTHER
    region: str  # ISO 3166-2, or "unknown"
    inputs: tuple[str, ...]  # dataset identities, sorted, distinct
    outputs: tuple[OutputVolume, ...]  # one per distinct output identity, sorted


@dataclass(frozen=True, slots=True)
class DatasetObservation:
    event_time_ms: int
    dataset: str


@dataclass(frozen=True, slots=True)
class JobObservation:
    event_time_ms: int
    job: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


Observation = RunObservation | DatasetObservation | JobObservation
