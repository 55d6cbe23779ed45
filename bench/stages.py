"""Where a message's time goes at half load: the latency run again, with tracing on
(``HOOKLINE_OTEL_ENDPOINT`` pointed at a collector in this process, docs/tracing.md), and
p50/p99 of each span: ingest's validation, group commit and publish confirm, the wait from
ingest's accept to the dispatcher (``hookline.since_created_ms``), the POST, and the attempt
log with the ack. Tracing costs a little itself, so the end-to-end figures of this pass are
not the bench's latency figures: the breakdown is for finding the slow stage.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web

from bench import delivery
from bench.stack import free_port

STAGES = [
    ("POST /api/v1/app/{app_id}/msg", "ingest: the whole request"),
    ("validate", "ingest: validation"),
    ("group_commit", "ingest: group commit (wait + commit)"),
    ("publish_confirm", "ingest: publish, broker confirm"),
    ("queue", "accept -> dispatcher (queue wait)"),
    ("POST", "dispatcher: the POST"),
    ("attempt_log_and_ack", "dispatcher: attempt log + ack"),
    ("deliver", "dispatcher: the whole delivery"),
]


@asynccontextmanager
async def collector() -> AsyncIterator[tuple[str, dict[str, list[tuple[int, float]]]]]:
    """An OTLP/HTTP receiver: span name -> durations in ms (and the queue waits)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    durations: dict[str, list[tuple[int, float]]] = defaultdict(list)  # name -> (start ns, ms)

    async def export(request: web.Request) -> web.Response:
        for resource in ExportTraceServiceRequest.FromString(await request.read()).resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    start = span.start_time_unix_nano
                    durations[span.name].append((start, (span.end_time_unix_nano - start) / 1e6))
                    for attribute in span.attributes:
                        if attribute.key == "hookline.since_created_ms":
                            durations["queue"].append((start, attribute.value.double_value))
        return web.Response(body=ExportTraceServiceResponse().SerializeToString())

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", durations
    finally:
        await runner.cleanup()


async def stage_breakdown(logdir: Path, **variant: int) -> dict[str, dict[str, float]]:
    """``variant``: ``e2e_latency``'s ``payload_bytes``, ``endpoints`` and ``failing``."""
    half_load_from = [0]

    def mark() -> None:  # spans of the saturating phase before it do not count
        half_load_from[0] = time.time_ns()

    async with collector() as (url, durations):
        await delivery.e2e_latency(
            logdir, on_half_load=mark, HOOKLINE_OTEL_ENDPOINT=url, OTEL_BSP_SCHEDULE_DELAY="500", **variant
        )
        await asyncio.sleep(1.5)  # the last batches of spans
    breakdown = {}
    for name, _label in STAGES:
        values = [ms for start, ms in durations.get(name, []) if start >= half_load_from[0]]
        if len(values) >= 2:
            cuts = statistics.quantiles(values, n=100)
            breakdown[name] = {"p50": statistics.median(values), "p99": cuts[98], "count": len(values)}
    return breakdown


def render_stages(breakdown: dict[str, dict[str, float]]) -> str:
    lines = ["| stage (span), at half load, tracing on | p50 | p99 | spans |", "|---|---:|---:|---:|"]
    for name, label in STAGES:
        if name in breakdown:
            b = breakdown[name]
            lines.append(f"| {label} (`{name}`) | {b['p50']:.2f} ms | {b['p99']:.2f} ms | {b['count']:,} |")
    return "\n".join(lines)
