"""The verifier's composition root: settings, pool, broker link, routes, background expiry.

``python -m services.verifier`` (``__main__.py``) starts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from services.verifier import health, replay
from services.verifier.api import routes as api_routes
from services.verifier.gate import ConcurrencyGate
from services.verifier.keys import POOL, PUBLISHER, RECEIVER, SETTINGS, VERIFIER_SETTINGS
from services.verifier.publisher import InboundPublisher
from services.verifier.receive import Receiver
from services.verifier.settings import VerifierSettings
from shared.amqp import BrokerLink
from shared.db import create_pool
from shared.settings import Settings
from shared.supervised import Loop, supervised
from shared.topology import Topology
from shared.web.auth import bearer_auth_middleware
from shared.web.body import BODY_READ_SECONDS
from shared.web.errors import error_middleware

log = structlog.get_logger()
INBOUND_PATH = "/in/{source_id}"


def _replay_expiry(pool: asyncpg.Pool, every: float) -> Loop:
    async def loop() -> None:
        while True:
            try:
                removed = await replay.expire(pool)
                if removed:
                    log.info("expired replay rows removed", count=removed)
            except Exception:  # the database may be away for a while; try again later
                log.exception("replay expiry failed")
            await asyncio.sleep(every)

    return loop


async def resources(app: web.Application) -> AsyncIterator[None]:
    """Everything the verifier holds, opened in order and closed in reverse."""
    settings, verifier = app[SETTINGS], app[VERIFIER_SETTINGS]
    topology = Topology.of(settings)
    async with create_pool(
        settings.dsn(), min_size=settings.db_pool_min, max_size=settings.db_pool_max
    ) as pool:
        app[POOL] = pool
        publisher = InboundPublisher(topology, settings.publish_confirm_timeout)
        app[PUBLISHER] = publisher
        gate = ConcurrencyGate(verifier.max_concurrent)
        receiver = Receiver(pool, publisher, verifier.proxy_networks(), verifier.replay_retention, gate)
        app[RECEIVER] = receiver

        async def on_connect(connection: AbstractRobustConnection) -> None:
            await publisher.on_connect(connection)

        expiry = _replay_expiry(pool, verifier.replay_cleanup_seconds)
        async with (
            BrokerLink(settings.amqp_urls(), "hookline-verifier", on_connect),
            supervised({"replay-expiry": expiry}),
        ):
            yield


async def inbound(request: web.Request) -> web.Response:
    return await request.app[RECEIVER].handle(request)


def _is_public(request: web.Request) -> bool:
    # /in/* is authenticated by the sender's signature, not by the API token.
    route = request.match_info.route
    return request.path in health.PUBLIC_PATHS or route.name == "inbound" or api_routes.is_public(request)


def create_app(settings: Settings, verifier: VerifierSettings | None = None) -> web.Application:
    app = web.Application(
        middlewares=[error_middleware, bearer_auth_middleware(settings.api_token, _is_public)]
    )
    app[SETTINGS] = settings
    app[BODY_READ_SECONDS] = settings.body_read_timeout
    app[VERIFIER_SETTINGS] = verifier or VerifierSettings()
    api_routes.install(app)
    health.add_routes(app, settings.metrics_token)
    app.router.add_post(INBOUND_PATH, inbound, name="inbound")
    app.cleanup_ctx.append(resources)
    return app
