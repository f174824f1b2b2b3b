"""OpenTelemetry set-up for entry points, and the instruments the hot path records.

Library code calls ``instruments()`` (opentelemetry-api only). Entry points call
``configure(settings)`` once: ``ZL_OTEL_EXPORTER=otlp`` exports over OTLP/HTTP to
``OTEL_EXPORTER_OTLP_ENDPOINT`` (standard OTel variables apply), ``console``
prints, ``none`` (default) leaves the no-op providers in place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry import metrics, trace

__all__ = [
    "Instruments",
    "WorkerGauges",
    "configure",
    "current_rss_mb",
    "instruments",
    "observe_worker",
    "peak_rss_mb",
    "tracer",
]

_SCOPE = "zettaledger"


@dataclass(frozen=True)
class Instruments:
    events: metrics.Counter
    bytes: metrics.Counter
    dead_letters: metrics.Counter
    dead_letters_undelivered: metrics.Counter
    duplicates: metrics.Counter
    flushes: metrics.Counter
    flush_retries: metrics.Counter
    flush_seconds: metrics.Histogram


_INSTRUMENTS: Instruments | None = None


def instruments() -> Instruments:
    global _INSTRUMENTS
    if _INSTRUMENTS is None:
        meter = metrics.get_meter(_SCOPE)
        _INSTRUMENTS = Instruments(
            events=meter.create_counter("zl.events.counted", unit="{event}", description="Events counted into the ledger"),
            bytes=meter.create_counter("zl.bytes.counted", unit="By", description="DataCreated bytes counted"),
            dead_letters=meter.create_counter(
                "zl.events.dead_lettered", unit="{event}", description="Events sent to the dead-letter topic"
            ),
            dead_letters_undelivered=meter.create_counter(
                "zl.dead_letters.undelivered",
                unit="{event}",
                description="Dead letters the broker refused in every form, recorded in the ledger instead",
            ),
            duplicates=meter.create_counter(
                "zl.events.duplicates", unit="{event}", description="Resent events dropped by event id"
            ),
            flushes=meter.create_counter("zl.flushes", unit="{flush}", description="Flushes written to ClickHouse"),
            flush_retries=meter.create_counter("zl.flush.retries", unit="{retry}", description="ClickHouse writes retried"),
            flush_seconds=meter.create_histogram("zl.flush.duration", unit="s", description="Time to persist one flush"),
        )
    return _INSTRUMENTS


@dataclass(frozen=True)
class WorkerGauges:
    """What the worker's gauges read at each export: a snapshot, taken by a callback the worker gives."""

    # (topic, partition) -> messages between the ledger's watermark and the end: the events topic's
    # partitions and the OpenLineage topic's, each held by its own consumer group.
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    stream_time_s: dict[int, float] = field(default_factory=dict)  # partition -> latest event time seen
    flush_age_s: float = 0.0
    dedup_window_ids: int = 0
    dedup_horizon_s: int = 0
    rss_bytes: int = 0


def observe_worker(read: Callable[[], WorkerGauges]) -> None:
    """Register the worker's gauges; each export calls ``read`` once per gauge (it must be cheap)."""
    meter = metrics.get_meter(_SCOPE)

    def gauge(name: str, unit: str, description: str, values: Callable[[WorkerGauges], Iterable[metrics.Observation]]) -> None:
        meter.create_observable_gauge(name, callbacks=[lambda _options: list(values(read()))], unit=unit, description=description)

    gauge(
        "zl.partition.lag",
        "{message}",
        "Messages on an assigned partition that the ledger does not hold yet",
        lambda g: (metrics.Observation(n, {"topic": t, "partition": p}) for (t, p), n in g.lag.items()),
    )
    gauge(
        "zl.stream.time",
        "s",
        "Latest event time seen on a partition (lateness is measured against it)",
        lambda g: (metrics.Observation(t, {"partition": p}) for p, t in g.stream_time_s.items()),
    )
    gauge("zl.flush.age", "s", "Seconds since the last flush was written", lambda g: [metrics.Observation(g.flush_age_s)])
    gauge(
        "zl.dedup.window.ids", "{id}", "Event ids held by the resend filter", lambda g: [metrics.Observation(g.dedup_window_ids)]
    )
    gauge("zl.dedup.horizon", "s", "The resend filter's horizon", lambda g: [metrics.Observation(g.dedup_horizon_s)])
    gauge("zl.process.rss", "By", "Resident memory of the worker", lambda g: [metrics.Observation(g.rss_bytes)])


def tracer() -> trace.Tracer:
    return trace.get_tracer(_SCOPE)


def configure(exporter: str, service_name: str = "zettaledger") -> None:
    """Install SDK providers for ``exporter`` (none, otlp, console). Call once, from an entry point.

    ``OTEL_SERVICE_NAME``, when set, names the service instead of ``service_name`` (the
    OpenTelemetry convention: the environment of a deployment wins over the code's default).
    """
    if exporter == "none":
        return
    service_name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    resource = Resource.create({"service.name": service_name})
    span_exporter: SpanExporter
    metric_exporter: MetricExporter
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("ZL_OTEL_EXPORTER=otlp needs: pip install opentelemetry-exporter-otlp-proto-http") from exc
        span_exporter, metric_exporter = OTLPSpanExporter(), OTLPMetricExporter()
    else:
        span_exporter, metric_exporter = ConsoleSpanExporter(), ConsoleMetricExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter)]))


def current_rss_mb() -> float:
    """This process's resident memory now, in MB (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM, not ``getrusage``: ``ru_maxrss`` survives exec, so a process
    started by a large parent reports the parent's size (the benchmark's producer,
    holding its events in memory, made the worker it started look far larger than it was).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
