"""Ingest's composition root: settings, pool, broker link, API, relay and consumer."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from contextlib import suppress

import structlog
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Histogram, generate_latest

from services.ingest.amqp_ingest import IngestConsumer
from services.ingest.api import api_routes, install_routes
from services.ingest.api.idempotency import idempotency_middleware
from services.ingest.group_commit import GroupCommitter
from services.ingest.keys import BROKER_LINK, MESSAGES, POOL, PUBLISHER, SETTINGS
from services.ingest.metrics import MESSAGES_INGESTED, OUTBOX_PENDING, QUEUE_MESSAGES, REQUEST_DURATION
from services.ingest.outbox import OutboxRelay, PublishedMarker
from services.ingest.publisher import DeliveryPublisher
from services.ingest.service import MessageService
from services.ingest.store import idempotency
from services.ingest.ui import install_ui, is_ui_path
from shared.amqp import BrokerLink
from shared.db import create_pool
from shared.logging import configure_logging
from shared.settings import Settings, get_settings
from shared.topology import Topology
from shared.web.auth import bearer_auth_middleware
from shared.web.body import BODY_READ_SECONDS
from shared.web.errors import error_middleware

log = structlog.get_logger()


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
    if response.status == 202 and template == "/api/v1/app/{app_id}/msg":
        _HTTP_INGESTED.inc()
    return response


async def metrics(request: web.Request) -> web.Response:
    # A scrape must still answer while the database or the broker is away.
    with suppress(Exception):
        OUTBOX_PENDING.set(
            await request.app[POOL].fetchval("SELECT count(*) FROM message_destination WHERE NOT published")
        )
    publisher = request.app[PUBLISHER]
    if publisher.ready:
        with suppress(Exception):
            for queue, depth in (await publisher.queue_depths()).items():
                QUEUE_MESSAGES.labels(queue).set(depth)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _run_forever(name: str, coro_factory) -> None:  # type: ignore[no-untyped-def]
    while True:
        try:
            await coro_factory()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task crashed; restarting", task=name)
            await asyncio.sleep(1)


def _background(app: web.Application, name: str, coro_factory) -> asyncio.Task:  # type: ignore[no-untyped-def]
    return asyncio.create_task(_run_forever(name, coro_factory), name=name)


async def _expire_idempotency_keys(app: web.Application) -> None:
    while True:
        await idempotency.expire(app[POOL], app[SETTINGS].idempotency_ttl_hours)
        await asyncio.sleep(3600)


async def resources(app: web.Application) -> AsyncIterator[None]:
    """Everything ingest holds, opened in order and closed in reverse."""
    settings = app[SETTINGS]
    topology = Topology(settings.amqp_prefix, tuple(settings.retry_schedule))
    async with create_pool(
        settings.dsn(), min_size=settings.db_pool_min, max_size=settings.db_pool_max
    ) as pool:
        app[POOL] = pool
        publisher = DeliveryPublisher(topology, settings.publish_confirm_timeout)
        marker = PublishedMarker(pool)
        committer = GroupCommitter(pool)
        service = MessageService(committer, publisher, marker, max_payload_bytes=settings.max_payload_bytes)
        consumer = IngestConsumer(
            service,
            topology,
            max_payload_bytes=settings.max_payload_bytes,
            prefetch=settings.ingest_prefetch,
        )

        async def on_connect(connection: AbstractRobustConnection) -> None:
            await publisher.on_connect(connection)  # declares the topology first
            await consumer.on_connect(connection)

        app[PUBLISHER], app[MESSAGES] = publisher, service
        relay = OutboxRelay(
            pool, publisher, grace=settings.outbox_grace_seconds, poll=settings.outbox_poll_seconds
        )
        async with BrokerLink(str(settings.amqp_url), "hookline-ingest", on_connect) as link:
            app[BROKER_LINK] = link
            tasks = [
                _background(app, "group-commit", committer.run),
                _background(app, "published-marker", marker.run),
                _background(app, "outbox-relay", relay.run),
                _background(app, "idempotency-expiry", lambda: _expire_idempotency_keys(app)),
            ]
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError):
                        await task
                await marker.flush()


def _is_public(request: web.Request) -> bool:
    # Prometheus scrapes /metrics without credentials; it carries no tenant data.
    # The dashboard under /ui checks its own session cookie instead of a bearer token.
    return request.path == "/metrics" or is_ui_path(request.path) or api_routes.is_public(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_payload_bytes + 64 * 1024,
        middlewares=[
            metrics_middleware,
            error_middleware,
            bearer_auth_middleware(settings.api_token, _is_public),
            idempotency_middleware,
        ],
    )
    app[SETTINGS] = settings
    app[BODY_READ_SECONDS] = settings.body_read_timeout
    install_routes(app)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(resources)
    install_ui(app)
    return app


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "ingest")
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    log.info("ingest starting", port=settings.ingest_port, amqp_prefix=settings.amqp_prefix)
    web.run_app(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        access_log=None,
        print=None,
        shutdown_timeout=10,
    )
