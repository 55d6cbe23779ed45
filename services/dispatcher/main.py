"""The dispatcher's composition root: settings, pool, HTTP client, broker, consumer.

``python -m services.dispatcher`` runs one process that consumes and serves
``/healthz``, ``/readyz`` and ``/metrics`` on ``HOOKLINE_DISPATCHER_PORT``; with
``HOOKLINE_DISPATCHER_WORKERS`` > 1 a supervisor serves those and runs that many
consuming worker processes (``services.dispatcher.supervisor``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress

import structlog
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from services.dispatcher.attempt_log import AttemptLog
from services.dispatcher.circuit import CircuitBreaker
from services.dispatcher.config import DispatcherTuning
from services.dispatcher.consumer import TaskConsumer
from services.dispatcher.delivery import DeliveryHandler
from services.dispatcher.egress import delivery_client
from services.dispatcher.endpoints import EndpointCache
from services.dispatcher.gates import EndpointGates
from services.dispatcher.health import Readiness, healthz, metrics_handler, readyz_handler
from services.dispatcher.keys import PARTS, READINESS, SETTINGS, TUNING, Parts
from services.dispatcher.publisher import TaskPublisher
from services.dispatcher.queue_depths import QueueProbe
from services.dispatcher.sender import Sender
from services.dispatcher.throttle import Throttle
from shared.amqp import BrokerLink
from shared.db import create_pool
from shared.logging import configure_logging
from shared.settings import Settings, get_settings
from shared.target_policy import parse_networks
from shared.topology import Topology

log = structlog.get_logger()


async def resources(app: web.Application) -> AsyncIterator[None]:
    """Everything the dispatcher holds, opened in order and closed in reverse; the
    consumer drains first, while the attempt log and the broker are still there."""
    settings, tuning = app[SETTINGS], app[TUNING]
    topology = Topology(settings.amqp_prefix, tuple(settings.retry_schedule))
    async with (
        create_pool(settings.dsn(), min_size=settings.db_pool_min, max_size=settings.db_pool_max) as pool,
        delivery_client(settings) as client,
    ):
        cache = EndpointCache(pool, settings.dsn(), refresh_seconds=tuning.endpoint_refresh_seconds)
        attempt_log = AttemptLog(
            pool,
            disable_after=settings.disable_after,
            flush_seconds=tuning.attempt_flush_seconds,
            # A delivery holds its prefetch slot until its attempt is committed: once half of
            # the window waits for the writer, waiting longer only idles the other half.
            flush_rows=min(tuning.attempt_flush_rows, max(1, settings.dispatcher_prefetch // 2)),
        )
        publisher = TaskPublisher(topology)
        stall_after = min(settings.connect_timeout, settings.delivery_timeout / 2)
        handler = DeliveryHandler(
            schedule=settings.retry_schedule,
            cache=cache,
            gates=EndpointGates(
                concurrency=tuning.endpoint_concurrency,
                backlog=tuning.endpoint_backlog,
                queue_seconds=tuning.endpoint_queue_seconds,
                # Without retry tiers a waiting task has nowhere to go but its turn.
                stall_after=stall_after if settings.retry_schedule else None,
            ),
            breaker=CircuitBreaker(threshold=tuning.circuit_failures, cooldown=tuning.circuit_cooldown),
            throttle=Throttle(pool),
            sender=Sender(
                client,
                allowed=parse_networks(settings.allowed_target_cidrs),
                timeout=settings.delivery_timeout,
                proxy=settings.egress_proxy,
            ),
            attempt_log=attempt_log,
            publisher=publisher,
            stall_after=stall_after,
            stalled_parking=settings.delivery_timeout + tuning.circuit_cooldown,
        )
        consumer = TaskConsumer(
            topology,
            handler,
            publisher,
            prefetch=settings.dispatcher_prefetch,
            poison_deliveries=settings.poison_deliveries,
        )
        app[PARTS].consumer = consumer

        async def on_connect(connection: AbstractRobustConnection) -> None:
            await publisher.on_connect(connection)  # declares the topology first
            await consumer.on_connect(connection)

        writer = asyncio.create_task(attempt_log.run(), name="attempt-log")
        background = [asyncio.create_task(cache.run(), name="endpoint-listener"), writer]
        for task in background:
            task.add_done_callback(_report_crash)
        try:
            async with BrokerLink(str(settings.amqp_url), "hookline-dispatcher", on_connect) as link:
                app[READINESS].checks = {
                    "broker": lambda: link.connected and publisher.ready,
                    "consumer": lambda: consumer.consuming and not consumer.draining,
                    "endpoint_listener": lambda: cache.listening,
                    "attempt_log": lambda: attempt_log.healthy and not writer.done(),
                }
                log.info("dispatcher starting", amqp_prefix=settings.amqp_prefix)
                try:
                    yield
                finally:
                    # One bound for the drain and the last writes: a database that refuses
                    # or is away never holds SIGTERM up (what is unwritten stays unacked).
                    deadline = asyncio.get_running_loop().time() + settings.drain_seconds
                    await consumer.drain(settings.drain_seconds)
                    await attempt_log.close(within=deadline - asyncio.get_running_loop().time())
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with suppress(asyncio.CancelledError, Exception):  # a crash was logged when it happened
                    await task


def _report_crash(task: asyncio.Task[None]) -> None:
    """A background task is meant to run until shutdown: say so at once if one ends."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("background task ended", task=task.get_name(), exc_info=error)


def create_app(settings: Settings, tuning: DispatcherTuning | None = None) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[TUNING] = tuning or DispatcherTuning()
    app[READINESS] = Readiness({"starting": lambda: False})
    app[PARTS] = Parts()
    probe = QueueProbe(str(settings.amqp_url), Topology(settings.amqp_prefix, tuple(settings.retry_schedule)))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_handler(lambda request: request.app[READINESS]))
    app.router.add_get("/metrics", metrics_handler(before=probe.refresh, token=settings.metrics_token))
    app.cleanup_ctx.append(resources)
    app.on_cleanup.append(lambda _app: probe.close())
    return app


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "dispatcher")
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    if settings.dispatcher_workers > 1:
        from services.dispatcher.supervisor import run_supervisor

        run_supervisor(settings)
        return
    log.info("dispatcher listening", port=settings.dispatcher_port)
    web.run_app(
        create_app(settings),
        port=settings.dispatcher_port,
        access_log=None,
        print=None,
        shutdown_timeout=5,
    )
