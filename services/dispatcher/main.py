"""The dispatcher's composition root: settings, pool, HTTP client, broker, consumer.

``python -m services.dispatcher`` (``__main__.py``) runs one process that consumes and serves
``/healthz``, ``/readyz`` and ``/metrics`` on ``HOOKLINE_DISPATCHER_PORT``; with
``HOOKLINE_DISPATCHER_WORKERS`` > 1 a supervisor serves those and runs that many
consuming worker processes (``services.dispatcher.supervisor``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import asyncpg
import structlog
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from services.dispatcher.attempt_log import AttemptLog
from services.dispatcher.circuit import CircuitBreaker
from services.dispatcher.circuit_shared import SharedCircuits
from services.dispatcher.config import DispatcherTuning
from services.dispatcher.consumer import TaskConsumer
from services.dispatcher.decide import Rules
from services.dispatcher.delivery import DeliveryHandler
from services.dispatcher.egress import delivery_client
from services.dispatcher.endpoints import EndpointCache
from services.dispatcher.gates import EndpointGates
from services.dispatcher.health import Readiness, healthz, metrics_handler, readyz_handler
from services.dispatcher.http1 import Http1Client
from services.dispatcher.keys import PARTS, READINESS, SETTINGS, TUNING, Parts
from services.dispatcher.lanes import LaneParts, OrderedLanes
from services.dispatcher.publisher import TaskPublisher
from services.dispatcher.queue_depths import QueueProbe
from services.dispatcher.sender import Sender
from services.dispatcher.settle import Settler
from services.dispatcher.throttle import Throttle
from shared import tasks, tracing
from shared.amqp import BrokerLink
from shared.db import GENERIC_PLANS, create_pool
from shared.settings import Settings
from shared.supervised import Supervised, supervised
from shared.target_policy import parse_networks
from shared.topology import Topology

log = structlog.get_logger()

Check = Callable[[], bool]


def _delivery_handler(
    settings: Settings,
    tuning: DispatcherTuning,
    pool: asyncpg.Pool,
    client: Http1Client,
    cache: EndpointCache,
    circuits: CircuitBreaker,
    throttle: Throttle,
) -> DeliveryHandler:
    """The delivery path up to the settlement: rules, policies (in order) and sender."""
    stall_after = min(settings.connect_timeout, settings.delivery_timeout / 2)
    return DeliveryHandler(
        rules=Rules.of(
            settings.retry_schedule,
            stall_after=stall_after,
            stalled_parking=settings.delivery_timeout + tuning.circuit_cooldown,
        ),
        cache=cache,
        # Consulted in this order: the circuit before a place in the queue, the
        # throttle's time slot once a concurrency slot is held.
        policies=(
            circuits,
            EndpointGates(
                concurrency=tuning.endpoint_concurrency,
                backlog=tuning.endpoint_backlog,
                queue_seconds=tuning.endpoint_queue_seconds,
                # Without retry tiers a waiting task has nowhere to go but its turn.
                stall_after=stall_after if settings.retry_schedule else None,
            ),
            throttle,
        ),
        sender=Sender(
            client,
            allowed=parse_networks(settings.allowed_target_cidrs),
            timeout=settings.delivery_timeout,
            proxy=settings.egress_proxy,
        ),
    )


@dataclass(frozen=True)
class _Parts:
    """What outlives one delivery: the cache, the attempt log, the publisher, the consumer."""

    cache: EndpointCache
    attempt_log: AttemptLog
    publisher: TaskPublisher
    consumer: TaskConsumer
    circuits: SharedCircuits
    lanes: OrderedLanes

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        await self.publisher.on_connect(connection)  # declares the topology first
        await self.consumer.on_connect(connection)


def _parts(settings: Settings, tuning: DispatcherTuning, pool: asyncpg.Pool, client: Http1Client) -> _Parts:
    topology = Topology.of(settings)
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
    breaker = CircuitBreaker(threshold=tuning.circuit_failures, cooldown=tuning.circuit_cooldown)
    circuits = SharedCircuits(
        pool,
        settings.dsn(),
        breaker,
        # A probe's claim outlasts the probe, however short the cool-down: a claim that
        # lapsed mid-POST would let a second process probe.
        claim_seconds=max(tuning.circuit_cooldown, settings.delivery_timeout + 5),
        refresh=tuning.endpoint_refresh_seconds,
    )
    throttle = Throttle(pool)
    handler = _delivery_handler(settings, tuning, pool, client, cache, breaker, throttle)
    lanes = OrderedLanes.of(
        pool,
        LaneParts(cache, handler.sender, handler.rules, attempt_log, publisher, throttle),
        lease_seconds=tuning.lane_lease_seconds,
    )
    consumer = TaskConsumer(
        topology,
        handler,
        Settler(handler, publisher, attempt_log, lanes=lanes),
        prefetch=settings.dispatcher_prefetch,
        poison_deliveries=settings.poison_deliveries,
    )
    return _Parts(cache, attempt_log, publisher, consumer, circuits, lanes)


def _readiness_checks(parts: _Parts, link: BrokerLink, loops: dict[str, Supervised]) -> dict[str, Check]:
    consumer, attempt_log = parts.consumer, parts.attempt_log
    return {
        "broker": lambda: link.connected and parts.publisher.ready,
        "consumer": lambda: consumer.consuming and not consumer.draining,
        "endpoint_listener": lambda: parts.cache.listening,
        "attempt_log": lambda: attempt_log.healthy and loops["attempt-log"].running,
    }


async def _drain(parts: _Parts, drain_seconds: float) -> None:
    """One bound for the drain and the last writes: a database that refuses or is away
    never holds SIGTERM up (what is unwritten stays unacked)."""
    deadline = asyncio.get_running_loop().time() + drain_seconds
    await parts.consumer.drain(drain_seconds)
    await parts.lanes.drain(max(0.0, deadline - asyncio.get_running_loop().time()))
    await parts.attempt_log.close(within=deadline - asyncio.get_running_loop().time())
    await parts.circuits.close()


async def resources(app: web.Application) -> AsyncIterator[None]:
    """Everything the dispatcher holds, opened in order and closed in reverse; the
    consumer drains first, while the attempt log and the broker are still there."""
    settings, tuning = app[SETTINGS], app[TUNING]
    async with (
        create_pool(
            settings.dsn(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            server_settings=GENERIC_PLANS,  # every query here is on the delivery path
        ) as pool,
        delivery_client(settings) as client,
    ):
        parts = _parts(settings, tuning, pool, client)
        app[PARTS].consumer = parts.consumer
        loops = {
            "endpoint-listener": parts.cache.run,
            "attempt-log": parts.attempt_log.run,
            "circuit-listener": parts.circuits.run,
            "ordered-lanes": parts.lanes.run,
        }
        async with (
            supervised(loops) as running,
            BrokerLink(settings.amqp_urls(), "hookline-dispatcher", parts.on_connect) as link,
        ):
            app[READINESS].checks = _readiness_checks(parts, link, running)
            log.info("dispatcher starting", amqp_prefix=settings.amqp_prefix)
            try:
                yield
            finally:
                await _drain(parts, settings.drain_seconds)


def create_app(settings: Settings, tuning: DispatcherTuning | None = None) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    tasks.write_layout(settings.task_headers)  # how this process writes delivery tasks
    app[TUNING] = tuning or DispatcherTuning()
    app[READINESS] = Readiness({"starting": lambda: False})
    app[PARTS] = Parts()
    probe = QueueProbe(settings.amqp_urls(), Topology.of(settings))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz_handler(lambda request: request.app[READINESS]))
    app.router.add_get("/metrics", metrics_handler(before=probe.refresh, token=settings.metrics_token))
    app.cleanup_ctx.append(tracing.lifecycle("hookline-dispatcher", settings.otel_endpoint))
    app.cleanup_ctx.append(resources)
    app.on_cleanup.append(lambda _app: probe.close())
    return app
