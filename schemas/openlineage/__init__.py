"""OpenLineage events in: decoding and validation against the vendored 2-0-2 spec, dataset identity,
volume, derivation and the source/region mapping. Pure: no Faust, no ClickHouse."""

from zettaledger.schemas.openlineage.decode import OpenLineageDecoder, spec
from zettaledger.schemas.openlineage.mapping import MappingRules
from zettaledger.schemas.openlineage.model import (
    DatasetObservation,
    Derivation,
    JobObservation,
    Observation,
    OpenLineageRejected,
    OutputVolume,
    RunObservation,
    RunState,
)

__all__ = [
    "DatasetObservation",
    "Derivation",
    "JobObservation",
    "MappingRules",
    "Observation",
    "OpenLineageDecoder",
    "OpenLineageRejected",
    "OutputVolume",
    "RunObservation",
    "RunState",
    "spec",
]
