"""OpenTelemetry tracing and W3C trace-context propagation across HTTP and Kafka.

The outbox stores ``current_context()`` with each event; the relay and consumers turn it
back into a parent with ``context_from``; so one trace runs from the HTTP request through the
relay into every consumer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

__all__ = ["context_from", "current_context", "current_trace_id", "setup_tracing", "tracer"]

_provider: TracerProvider | None = None


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install a tracer provider once per process; later calls only add ``exporter``.

    Spans are exported over OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, e.g. to an OpenTelemetry collector or
    Jaeger; without it they are made (for trace ids in logs and propagation) but not sent.
    """
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(_provider)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
    return _provider


_tracers: dict[str, trace.Tracer] = {}


def tracer(name: str = "emporium") -> trace.Tracer:
    """The tracer called ``name``, made once: ``get_tracer`` builds a new one each call
    (~9 us, on every request's span). One made before ``setup_tracing`` is a proxy that
    turns into the real one when the provider is installed."""
    found = _tracers.get(name)
    if found is None:
        found = _tracers[name] = trace.get_tracer(name)
    return found


def current_context() -> dict[str, str]:
    """The active span's W3C headers (``traceparent``, ``tracestate``), empty without a span."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def context_from(carrier: Mapping[str, str]) -> otel_context.Context:
    """An OpenTelemetry context whose parent is the span described by ``carrier``."""
    return extract(dict(carrier))


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")
