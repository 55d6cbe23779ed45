"""What Prometheus sees of ingest: request timings, and gauges counted in the background.

A scrape only renders what is already in the registry. The gauges that cost a query or
a broker round trip (the outbox backlog, the queue depths) are counted by a background
task every ``HOOKLINE_METRICS_REFRESH_SECONDS``: however often, and by however many
scrapers, ``/metrics`` is asked, the database and the broker see one count per
interval, and a scrape answers at once with the last values while either is away.
"""

from __future__ import annotations

import asyncio
import functools
import time

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest
from pydantic import SecretStr

from services.ingest.metrics import (
    GAUGES_REFRESHED,
    MESSAGES_INGESTED,
    OUTBOX_PENDING,
    QUEUE_MESSAGES,
    REQUEST_DURATION,
)
from services.ingest.publisher import DeliveryPublisher
from shared.web.auth import token_required

log = structlog.get_logger()

OUTBOX_PENDING_SQL = "SELECT count(*) FROM message_destination WHERE NOT published"
# One count may take this long before it is given up until the next round.
_COUNT_TIMEOUT = 10.0
_MESSAGES_ROUTE = "/api/v1/app/{app_id}/msg"


@functools.cache
def _request_duration(template: str, method: str, status: int) -> Histogram:
    # The label combinations are bounded (routes x methods x statuses); resolving them
    # through labels() on every request showed in the profile.
    return REQUEST_DURATION.labels(template, method, str(status))


_HTTP_INGESTED = MESSAGES_INGESTED.labels("http")


@web.middleware
async def metrics_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource
    template = route.canonical if route is not None else "unmatched"
    _request_duration(template, request.method, response.status).observe(time.perf_counter() - started)
    if response.status == 202 and template == _MESSAGES_ROUTE:
        _HTTP_INGESTED.inc()
    return response


async def _render(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_handler(token: SecretStr | None):  # type: ignore[no-untyped-def]
    """``GET /metrics``: renders only; behind ``HOOKLINE_METRICS_TOKEN`` when it is set."""
    return token_required(_render, token)


class GaugeRefresher:
    """Counts the outbox backlog and the queue depths, now and then every ``interval``.

    A count that fails (database or broker away) leaves the gauge at its last value;
    ``hookline_ingest_gauges_refreshed_timestamp_seconds`` tells how old that value is."""

    def __init__(self, pool: asyncpg.Pool, publisher: DeliveryPublisher, *, interval: float) -> None:
        self._pool, self._publisher, self._interval = pool, publisher, interval
        self._counted_once = False

    async def run(self) -> None:
        while True:
            self._counted_once |= await self.refresh()
            # Until a first full count (at start the broker link may still be opening), try
            # every second rather than leave the queue gauges absent for a whole interval.
            await asyncio.sleep(self._interval if self._counted_once else min(self._interval, 1.0))

    async def refresh(self) -> bool:
        """Count everything; True when every count succeeded."""
        outbox = await self._count_outbox()
        queues = await self._probe_queues()
        return outbox and queues

    async def _count_outbox(self) -> bool:
        try:
            async with asyncio.timeout(_COUNT_TIMEOUT):
                pending = await self._pool.fetchval(OUTBOX_PENDING_SQL)
        except Exception as exc:  # any failure keeps the last value until the next round
            log.debug("outbox gauge not refreshed", error=repr(exc))
            return False
        OUTBOX_PENDING.set(pending)
        GAUGES_REFRESHED.labels("outbox_pending").set(time.time())
        return True

    async def _probe_queues(self) -> bool:
        if not self._publisher.ready:
            return False
        try:
            async with asyncio.timeout(_COUNT_TIMEOUT):
                depths = await self._publisher.queue_depths()
        except Exception as exc:  # any failure keeps the last value until the next round
            log.debug("queue gauges not refreshed", error=repr(exc))
            return False
        for queue, depth in depths.items():
            QUEUE_MESSAGES.labels(queue).set(depth)
        GAUGES_REFRESHED.labels("queue_messages").set(time.time())
        return True
