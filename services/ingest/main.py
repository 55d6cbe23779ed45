"""Ingest's composition root: settings, pool, broker link, API, relay, consumer, loops.

``python -m services.ingest`` (``__main__.py``) starts it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from services.ingest import background
from services.ingest.amqp_ingest import IngestConsumer
from services.ingest.api import api_routes, install_routes
from services.ingest.api.idempotency import idempotency_middleware
from services.ingest.group_commit import GroupCommitter
from services.ingest.keys import BROKER_LINK, MESSAGES, POOL, PUBLISHER, SETTINGS
from services.ingest.monitoring import GaugeRefresher, metrics_handler, metrics_middleware
from services.ingest.outbox import OutboxRelay, PublishedMarker
from services.ingest.publisher import DeliveryPublisher
from services.ingest.retention import retention_loop
from services.ingest.schema_gate import SCHEMA_GATE, SchemaGate
from services.ingest.service import MessageService
from services.ingest.ui import install_ui, is_ui_path
from shared import encryption, tasks, tracing
from shared.amqp import BrokerLink
from shared.db import GENERIC_PLANS, create_pool
from shared.settings import Settings
from shared.supervised import supervised
from shared.topology import Topology
from shared.web.auth import bearer_auth_middleware
from shared.web.body import BODY_READ_SECONDS
from shared.web.errors import error_middleware


async def resources(app: web.Application) -> AsyncIterator[None]:
    """Everything ingest holds, opened in order and closed in reverse."""
    settings = app[SETTINGS]
    topology = Topology.of(settings)
    async with (
        create_pool(settings.dsn(), min_size=settings.db_pool_min, max_size=settings.db_pool_max) as pool,
        # The delivery path's statements: the group commit holds one connection, the
        # published flags take one now and then (shared/db.py: GENERIC_PLANS).
        create_pool(settings.dsn(), min_size=1, max_size=3, server_settings=GENERIC_PLANS) as hot_pool,
    ):
        app[POOL] = pool
        publisher = DeliveryPublisher(topology, settings.publish_confirm_timeout)
        marker = PublishedMarker(hot_pool)
        committer = GroupCommitter(hot_pool)
        app[SCHEMA_GATE] = gate = SchemaGate(
            pool, settings.dsn(), refresh_seconds=settings.schema_refresh_seconds
        )
        await gate.reload()  # enforced from the first message on
        service = MessageService(
            committer, publisher, marker, max_payload_bytes=settings.max_payload_bytes, schema_gate=gate
        )
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
        gauges = GaugeRefresher(pool, publisher, interval=settings.metrics_refresh_seconds)
        loops = {
            "group-commit": committer.run,
            "published-marker": marker.run,
            "outbox-relay": relay.run,
            "idempotency-expiry": background.expire_idempotency_keys(pool, settings.idempotency_ttl_hours),
            "metrics-gauges": gauges.run,
            "schema-gate": gate.run,
            "history-retention": retention_loop(
                pool,
                retention_days=settings.retention_days,
                premake_days=settings.partition_premake_days,
                interval=settings.retention_interval,
            ),
        }
        async with BrokerLink(settings.amqp_urls(), "hookline-ingest", on_connect) as link:
            app[BROKER_LINK] = link
            async with supervised(loops):
                yield
            await marker.flush()


def _is_public(request: web.Request) -> bool:
    # /metrics carries no tenant data: no API token, HOOKLINE_METRICS_TOKEN when set.
    # The dashboard under /ui checks its own session cookie instead of a bearer token.
    return request.path == "/metrics" or is_ui_path(request.path) or api_routes.is_public(request)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_payload_bytes + 64 * 1024,
        middlewares=[
            *([tracing.server_middleware()] if settings.otel_endpoint else []),
            metrics_middleware,
            error_middleware,
            bearer_auth_middleware(settings.api_token, _is_public),
            idempotency_middleware,
        ],
    )
    app[SETTINGS] = settings
    encryption.install(encryption.ring_for(settings))  # this process's key ring
    tasks.write_layout(settings.task_headers)  # how this process writes delivery tasks
    app[BODY_READ_SECONDS] = settings.body_read_timeout
    install_routes(app)
    app.router.add_get("/metrics", metrics_handler(settings.metrics_token))
    app.cleanup_ctx.append(tracing.lifecycle("hookline-ingest", settings.otel_endpoint))
    app.cleanup_ctx.append(resources)
    install_ui(app)
    return app
