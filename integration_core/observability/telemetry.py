"""OpenTelemetry: traces that follow a sync across both queues, and its metrics.

`setup_telemetry` is called once by each entry point. With an Application Insights
connection string it hands over to `azure-monitor-opentelemetry` (Microsoft's distro), as
the Functions Python guide documents together with host.json `"telemetryMode":
"OpenTelemetry"` and the app setting `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true`, so
the worker exports and the host does not export the same data again. Locally,
`OTEL_CONSOLE=true` prints spans and metrics to the console; otherwise the API's no-op
providers make every call here free.

A queue message carries its trace context (`SyncMessage.traceparent`, W3C), so the
scheduler's span, the inbound worker's and the outbound worker's share one trace.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["current_traceparent", "setup_telemetry", "span", "span_from"]

log = logging.getLogger(__name__)
TRACER_NAME = "lockstep"
_PROPAGATOR = TraceContextTextMapPropagator()
_setup_lock = threading.Lock()
_configured = False


def setup_telemetry(*, connection_string: str | None, console: bool = False) -> str:
    """Install the exporters once per process; returns which ("azure_monitor", "console",
    "none")."""
    global _configured
    with _setup_lock:
        if _configured:
            return "already"
        _configured = True
        if connection_string:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(connection_string=connection_string, logger_name="")
            return "azure_monitor"
        if console:
            _console()
            return "console"
        return "none"


def _console() -> None:
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to put in a message; None outside one."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(name: str, **attributes: str) -> Iterator[Span]:
    with trace.get_tracer(TRACER_NAME).start_as_current_span(name, attributes=attributes) as s:
        yield s


@contextmanager
def span_from(traceparent: str | None, name: str, **attributes: str) -> Iterator[Span]:
    """A span continuing the trace a message carries (a new trace when it carries none)."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    token = otel_context.attach(parent) if parent is not None else None
    try:
        with span(name, **attributes) as s:
            yield s
    finally:
        if token is not None:
            otel_context.detach(token)
