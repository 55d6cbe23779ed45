"""One message, one trace: ingest and the dispatcher run as processes (``python -m
services.<name>``) with ``HOOKLINE_OTEL_ENDPOINT`` pointed at an OTLP/HTTP collector this
test serves, and the spans they export chain from ingest's request to the POST."""

from __future__ import annotations

import asyncio
import gzip
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.deploy.live import ingest_and_dispatcher
from tests.dispatcher.conftest import eventually
from tests.dispatcher.process import environment


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[Span]]]:
    """An OTLP/HTTP trace receiver: decodes each export as the protobuf it is."""
    spans: list[Span] = []

    async def export(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportTraceServiceRequest.FromString(body)
        for resource in message.resource_spans:
            service = next(
                a.value.string_value for a in resource.resource.attributes if a.key == "service.name"
            )
            for scope in resource.scope_spans:
                for s in scope.spans:
                    attributes = {a.key: a.value for a in s.attributes}
                    spans.append(
                        Span(
                            service,
                            s.name,
                            s.trace_id.hex(),
                            s.span_id.hex(),
                            s.parent_span_id.hex(),
                            attributes,
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", spans
    await runner.cleanup()


async def test_one_message_is_one_trace_from_the_ingest_request_to_the_post(settings, receiver, collector):
    url, spans = collector
    env = environment(settings, 0, HOOKLINE_OTEL_ENDPOINT=url, OTEL_BSP_SCHEDULE_DELAY="100")
    logs = Path(tempfile.mkdtemp(prefix="hookline-tracing-"))
    async with ingest_and_dispatcher(env, logs, settings.api_token) as (http, base):
        async with http.post(f"{base}/api/v1/app", json={"name": "traced"}) as r:
            app_id = (await r.json())["id"]
        async with http.post(f"{base}/api/v1/app/{app_id}/endpoint", json={"url": f"{receiver.url}/t"}) as r:
            assert r.status == 201, await r.text()
        # When one message is sent
        async with http.post(
            f"{base}/api/v1/app/{app_id}/msg", json={"eventType": "invoice.paid", "payload": {"n": 1}}
        ) as r:
            assert r.status == 202, await r.text()
            msg_id = (await r.json())["id"]
        await receiver.wait_for(lambda: len(receiver.at("/t")) == 1)

        async def posted() -> bool:
            return any(s.name == "POST" for s in spans)

        await eventually(posted, timeout=20)
        await asyncio.sleep(0.5)  # the ingest batch of the same moment

    # Then the request span of the create is the root of one trace that reaches the POST
    [request] = [s for s in spans if s.name == "POST /api/v1/app/{app_id}/msg"]
    assert request.service == "hookline-ingest" and request.parent_id == ""
    trace = [s for s in spans if s.trace_id == request.trace_id]
    by_name = {s.name: s for s in trace}
    for child in ("validate", "group_commit", "publish_confirm"):
        assert by_name[child].parent_id == request.span_id, child
    deliver, post = by_name["deliver"], by_name["POST"]
    assert deliver.service == post.service == "hookline-dispatcher"
    assert deliver.parent_id == request.span_id  # across the broker, by the task's traceparent
    assert deliver.attributes["hookline.msg_id"].string_value == msg_id
    assert post.parent_id == deliver.span_id
    assert post.attributes["http.response.status_code"].int_value == 200
    assert by_name["attempt_log_and_ack"].parent_id == deliver.span_id
    # and no span of another request joined it
    assert {s.name for s in trace} == {
        request.name,
        "validate",
        "group_commit",
        "publish_confirm",
        "deliver",
        "POST",
        "attempt_log_and_ack",
    }
