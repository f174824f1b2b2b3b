"""OpenLineage events built with the real ``openlineage-python`` client, serialised the way its
KafkaTransport sends them (``Serde.to_json(event).encode("utf-8")``, key ``run:{ns}/{name}``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    job_type_job,
    output_statistics_output_dataset,
    symlinks_dataset,
)
from openlineage.client.generated.base import RunFacet
from openlineage.client.serde import Serde

PRODUCER = "https://github.com/zettaledger/tests"


@attr.define
class ZettaledgerRunFacet(RunFacet):
    """The custom run facet a producer sends to say where its data comes from."""

    source: str | None = attr.field(default=None)
    region: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return "https://zettaledger.example/spec/ZettaledgerRunFacet.json"


def run_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def run_event(
    state: str,
    rid: str,
    job: str,
    inputs: Sequence[str] = (),
    outputs: Sequence[tuple[str, int | None, int | None]] = (),  # (name, size, rowCount)
    *,
    namespace: str = "pipelines",
    dataset_namespace: str = "s3://lake",
    when: dt.datetime | None = None,
    source: str | None = None,
    region: str | None = None,
    identity_columns: bool = False,
    job_type: tuple[str, str] | None = None,
    symlink: dict[str, str] | None = None,  # dataset name -> TABLE symlink name (namespace "hive://warehouse")
) -> bytes:
    return Serde.to_json(
        run_event_object(
            state,
            rid,
            job,
            inputs,
            outputs,
            namespace=namespace,
            dataset_namespace=dataset_namespace,
            when=when,
            source=source,
            region=region,
            identity_columns=identity_columns,
            job_type=job_type,
            symlink=symlink,
        )
    ).encode("utf-8")


def run_event_object(
    state: str,
    rid: str,
    job: str,
    inputs: Sequence[str] = (),
    outputs: Sequence[tuple[str, int | None, int | None]] = (),
    *,
    namespace: str = "pipelines",
    dataset_namespace: str = "s3://lake",
    when: dt.datetime | None = None,
    source: str | None = None,
    region: str | None = None,
    identity_columns: bool = False,
    job_type: tuple[str, str] | None = None,
    symlink: dict[str, str] | None = None,
) -> RunEvent:
    """The ``RunEvent`` itself, for a test that emits it through the client (``run_event`` is its bytes)."""
    when = when or dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    run_facets = {"zettaledger": ZettaledgerRunFacet(source=source, region=region)} if (source or region) else {}
    job_facets = (
        {"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration=job_type[0], jobType=job_type[1])}
        if job_type
        else {}
    )
    symlink = symlink or {}

    def facets(name: str) -> dict[str, object]:
        out: dict[str, object] = {}
        if name in symlink:
            out["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[symlinks_dataset.Identifier(namespace="hive://warehouse", name=symlink[name], type="TABLE")]
            )
        return out

    outs = []
    for name, size, rows in outputs:
        dataset_facets = facets(name)
        if identity_columns and inputs:
            dataset_facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={
                    "a": column_lineage_dataset.Fields(
                        inputFields=[
                            column_lineage_dataset.InputField(
                                namespace=dataset_namespace,
                                name=inputs[0],
                                field="a",
                                transformations=[column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")],
                            )
                        ]
                    )
                }
            )
        output_facets = (
            {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows, size=size)}
            if size is not None or rows is not None
            else {}
        )
        outs.append(OutputDataset(namespace=dataset_namespace, name=name, facets=dataset_facets, outputFacets=output_facets))  # type: ignore[arg-type]
    return RunEvent(
        eventType=RunState[state],
        eventTime=when.isoformat(),
        run=Run(runId=rid, facets=run_facets),  # type: ignore[arg-type]
        job=Job(namespace=namespace, name=job, facets=job_facets),  # type: ignore[arg-type]
        inputs=[InputDataset(namespace=dataset_namespace, name=n, facets=facets(n)) for n in inputs],  # type: ignore[arg-type]
        outputs=outs,
        producer=PRODUCER,
    )


def kafka_key(namespace: str, job: str) -> bytes:
    """The key KafkaTransport gives a run event without a parent run facet."""
    return f"run:{namespace}/{job}".encode()
