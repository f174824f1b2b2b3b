"""OpenLineage events built with the real ``openlineage-python`` client, serialised the way its
KafkaTransport sends them (``Serde.to_json(event).encode("utf-8")``, key ``run:{ns}/{name}``)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator, Sequence

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

__all__ = [
    "PRODUCER",
    "REGIONS",
    "SOURCES",
    "kafka_key",
    "openlineage_messages",
    "run_event",
    "run_event_object",
    "run_id",
]

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


# The fault suite's and the bench's run traffic: sources and regions its truth expects.
SOURCES = ("IOT", "AI", "TRAINING", "INFERENCE")
REGIONS = ("CN-GD", "CN-BJ", "CN-SH")


def openlineage_messages(runs: int, seed: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) as the KafkaTransport sends them."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for i in range(runs):
        job = f"{'replicate' if i % 4 == 3 else 'transform'}_{i % 13}"
        rid = run_id(f"fault-{seed}-{i}")
        inputs = [] if i % 5 == 0 else [f"in_{rng.randrange(50)}", f"in_{rng.randrange(50)}"]
        out = f"out_{i % 97}"
        source, region = SOURCES[i % 4], REGIONS[i % 3]
        when = start + dt.timedelta(minutes=7 * i)
        running = rng.randrange(1, 10**12)
        final: int | None = rng.randrange(1, 10**12) if i % 2 else None
        end = "FAIL" if i % 8 == 7 else "COMPLETE"
        events = [
            run_event("START", rid, job, inputs, [(out, None, None)], when=when, source=source, region=region),
            run_event(
                "RUNNING",
                rid,
                job,
                inputs,
                [(out, running, 1)],
                when=when + dt.timedelta(seconds=30),
                source=source,
                region=region,
            ),
            run_event(
                end,
                rid,
                job,
                inputs,
                [(out, final, 1 if final else None)],
                when=when + dt.timedelta(seconds=60),
                source=source,
                region=region,
            ),
        ]
        key = kafka_key("pipelines", job)
        for value in events * (2 if i % 10 == 4 else 1):
            yield key, value
