"""OpenTelemetry tracing and W3C trace-context propagation across HTTP and Kafka.

The outbox stores ``current_context()`` with each event; the relay and consumers turn it
back into a parent with ``context_from``; so one trace runs from the HTTP request through the
relay into every consumer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.util.types import Attributes

__all__ = [
    "client_span",
    "context_from",
    "current_context",
    "current_trace_id",
    "setup_tracing",
    "spans_recorded",
    "start_server_span",
    "tracer",
]

_provider: TracerProvider | None = None
# True once setup_tracing gave the provider a span processor (an exporter): until then
# nothing would ever read a span's name, attributes or timing.
_recording = False
# The provider's own tracer for server spans, while they need not be recorded.
_http_tracer: SdkTracer | None = None


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install a tracer provider once per process; later calls only add ``exporter``.

    Spans are exported over OTLP/HTTP when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, e.g. to an OpenTelemetry collector or
    Jaeger; without it they are made (for trace ids in logs and propagation) but not sent.
    """
    global _provider, _recording, _http_tracer
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(_provider)
        if trace.get_tracer_provider() is _provider:  # not refused for another one
            found = _provider.get_tracer("emporium.http")
            _http_tracer = found if isinstance(found, SdkTracer) else None
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        ):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _recording = True
    if exporter is not None:
        _provider.add_span_processor(SimpleSpanProcessor(exporter))
        _recording = True
    return _provider


def spans_recorded() -> bool:
    """Whether spans are recorded (an exporter was set up), so their details are worth
    setting; without one ``start_server_span`` makes spans that carry ids only."""
    return _recording or _http_tracer is None


_tracers: dict[str, trace.Tracer] = {}


def tracer(name: str = "emporium") -> trace.Tracer:
    """The tracer called ``name``, made once: ``get_tracer`` builds a new one each call
    (~9 us, on every request's span). One made before ``setup_tracing`` is a proxy that
    turns into the real one when the provider is installed."""
    found = _tracers.get(name)
    if found is None:
        found = _tracers[name] = trace.get_tracer(name)
    return found


def start_server_span(
    name: str, carrier: Mapping[str, str], attributes: Attributes = None
) -> trace.Span:
    """A SERVER span (started, not yet current) whose parent is the span ``carrier``
    describes (W3C ``traceparent``/``tracestate``), else the current one, else none.

    While no exporter is set up (``spans_recorded()`` is false) it is a non-recording span
    with the trace id, span id, flags and trace state the SDK would have given it (its own
    sampler and id generator decide them), so the logs' ``trace_id`` and the context sent
    onwards (outbox, calls) are as they were, without recording a span nobody reads: the
    SDK's span was ~9 % of a cached catalog GET.
    """
    context = extract(carrier) if carrier else None
    light = _http_tracer
    if _recording or light is None:
        return tracer("emporium.http").start_span(
            name,
            context=context,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
    return _light_span(light, context, name, SpanKind.SERVER, attributes)


@contextlib.contextmanager
def client_span(tracer_name: str, name: str, attributes: Attributes = None) -> Iterator[trace.Span]:
    """A CLIENT span, current inside the block, child of the current span: the one a call
    to another service runs in (its ``traceparent`` is sent on, ``current_context()``).

    While no exporter is set up (``spans_recorded()`` is false) no span is made: the call
    goes on under the current (server) span, whose ids are the ones sent on. Nothing
    would ever read the client span, nor tell its id from the server span's (logs carry
    the trace id, the same either way); making it cost ~4 % of the gateway's CPU on a
    proxied GET. Recorded, it is the tracer's own (exceptions and status recorded).
    """
    if _recording or _http_tracer is None:
        with tracer(tracer_name).start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            yield span
        return
    yield trace.get_current_span()


def _light_span(
    light: SdkTracer,
    context: otel_context.Context | None,
    name: str,
    kind: SpanKind,
    attributes: Attributes,
) -> trace.Span:
    """Tracer.start_span's choice of ids and flags, without the span it records."""
    parent = trace.get_current_span(context).get_span_context()
    ids = light.id_generator
    if parent.is_valid:
        trace_id = parent.trace_id
        random_trace_id = parent.trace_flags.random_trace_id
    else:
        trace_id = ids.generate_trace_id()
        random_trace_id = ids.is_trace_id_random()
    sampling = light.sampler.should_sample(context, trace_id, name, kind, attributes)
    sampled = sampling.decision is Decision.RECORD_AND_SAMPLE
    flags = TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT
    if random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    span_context = SpanContext(
        trace_id,
        ids.generate_span_id(),
        is_remote=False,
        trace_flags=TraceFlags(flags),
        trace_state=sampling.trace_state,
    )
    return NonRecordingSpan(span_context)


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
