"""OpenTelemetry's in-memory exporters, installed once per test process.

OpenTelemetry allows one global tracer and meter provider per process, so every test that
reads spans or metrics shares these two.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["READER", "SPANS", "event_total", "install", "points"]

SPANS = InMemorySpanExporter()
READER = InMemoryMetricReader()


def install() -> None:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(SPANS))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))


def points(name: str) -> list[Any]:
    data = READER.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def event_total(event: str, **attributes: str) -> int:
    """The `lockstep.events` counter for exactly these attributes."""
    wanted = {"event": event, **attributes}
    return sum(p.value for p in points("lockstep.events") if dict(p.attributes) == wanted)
