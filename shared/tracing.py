"""OpenTelemetry traces of one message's path: ingest's request, the AMQP hop, the
dispatcher's delivery — off unless ``HOOKLINE_OTEL_ENDPOINT`` is set.

Off, nothing of OpenTelemetry is imported and the hot paths test one module global
(``TRACER is None``) before anything else: the cost is a global lookup per call site.
On, spans go through the SDK's batch processor to an OTLP/HTTP collector
(``{endpoint}/v1/traces``). The trace crosses the broker as the W3C ``traceparent``
header of the delivery task (``shared.tasks``), so a retry stays in its message's trace.

One tracer per process: a process runs one service (``python -m services.<name>``),
whose ``cleanup_ctx`` starts it with the service's name and flushes it at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Tracer

log = structlog.get_logger()

TRACER: Tracer | None = None
_NOTHING = nullcontext()


@asynccontextmanager
async def traced(service: str, endpoint: str | None) -> AsyncIterator[None]:
    """Trace this process as ``service`` while the block runs (nothing when ``endpoint``
    is None); the spans still buffered are exported on the way out."""
    global TRACER
    if not endpoint:
        yield
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    TRACER = provider.get_tracer("hookline")
    log.info("tracing on", otel_endpoint=endpoint, service=service)
    try:
        yield
    finally:
        TRACER = None
        provider.shutdown()  # exports what is left; bounded by the exporter's timeout


def lifecycle(service: str, endpoint: str | None):  # type: ignore[no-untyped-def]
    """``traced`` as an aiohttp ``cleanup_ctx`` entry: appended before the service's
    resources, it traces them from their start and flushes after their cleanup."""

    async def ctx(_app: Any) -> AsyncIterator[None]:
        async with traced(service, endpoint):
            yield

    return ctx


def server_middleware():  # type: ignore[no-untyped-def]
    """A SERVER span per HTTP request, named by its route (added only when tracing is on)."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if TRACER is None:
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        with continued(f"{request.method} {route}", None, "SERVER", **{"http.route": route}) as current:
            response = await handler(request)
            current.set_attribute("http.response.status_code", response.status)
            return response

    return middleware


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child of the current span (a no-op context when tracing is off)."""
    if TRACER is None:
        return _NOTHING
    return TRACER.start_as_current_span(name, attributes=attributes)


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent`` value, for a task's headers."""
    if TRACER is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def parent(traceparent_value: str | None) -> Context | None:
    if not traceparent_value:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": traceparent_value})


@contextmanager
def continued(name: str, traceparent_value: str | None, kind: str, **attributes: Any) -> Iterator[Any]:
    """A span continuing the trace a task carried (a new root when it carried none);
    ``kind`` is an OpenTelemetry SpanKind name: SERVER, CONSUMER, CLIENT."""
    assert TRACER is not None
    from opentelemetry.trace import SpanKind

    with TRACER.start_as_current_span(
        name, context=parent(traceparent_value), kind=SpanKind[kind], attributes=attributes
    ) as current:
        yield current
