"""The dispatcher against real RabbitMQ, PostgreSQL and an aiohttp receiver on 127.0.0.1.

Tests write applications, endpoints, messages and destinations straight into
PostgreSQL (what ingest would commit) and publish the delivery tasks themselves.
Each test's queues and exchanges are deleted when it ends: quorum queues hold file
handles on the broker, and a long run should not pile them up.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aio_pika
import asyncpg
import orjson
import pytest
from aiohttp import web
from svix.api import SvixAsync, SvixOptions

from services.dispatcher.config import DispatcherTuning
from services.dispatcher.main import create_app
from shared.ids import new_id
from shared.settings import Settings
from shared.signing import new_secret
from shared.tasks import DeliveryTask
from shared.topology import DISPATCH_ROUTING_KEY, Topology, declare_topology, delete_topology

# Small knobs so that circuits, backlogs and batches show within a test's seconds.
FAST = DispatcherTuning(
    endpoint_concurrency=8,
    endpoint_backlog=16,
    circuit_failures=5,
    circuit_cooldown=2.0,
    endpoint_refresh_seconds=5.0,
    attempt_flush_seconds=0.02,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


Behaviour = Callable[[web.Request, int], Awaitable[web.StreamResponse]]


async def ok(_request: web.Request, _n: int) -> web.StreamResponse:
    return web.Response(text="thanks")


@dataclass
class Receiver:
    """An aiohttp server: each path answers as its behaviour says and records requests."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body, time.monotonic()))
        self.counts[request.path] += 1
        self.arrived.set()
        behaviour = self.behaviours.get(request.path, ok)
        return await behaviour(request, self.counts[request.path])

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield rec
    await runner.cleanup()


@dataclass
class EndpointRow:
    id: str
    app_id: str
    url: str
    secret: str


class World:
    """What ingest would have committed and published, written directly."""

    def __init__(self, pool: asyncpg.Pool, channel: aio_pika.abc.AbstractChannel, topology: Topology):
        self.pool, self.channel, self.topology = pool, channel, topology
        self.app_id = new_id("app")

    async def setup(self) -> None:
        await self.pool.execute(
            "INSERT INTO application (id, name) VALUES ($1, 'dispatcher test')", self.app_id
        )
        await declare_topology(self.channel, self.topology)
        self.exchange = await self.channel.get_exchange(self.topology.dispatch_exchange)

    async def endpoint(self, url: str, **columns: object) -> EndpointRow:
        endpoint_id, secret = new_id("ep"), new_secret()
        values = {"headers": {}, "old_secrets": [], "throttle_rate": None, **columns}
        await self.pool.execute(
            "INSERT INTO endpoint (id, app_id, url, secret, headers, old_secrets, throttle_rate)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            endpoint_id,
            self.app_id,
            url,
            values.get("secret", secret),
            values["headers"],
            values["old_secrets"],
            values["throttle_rate"],
        )
        return EndpointRow(endpoint_id, self.app_id, url, str(values.get("secret", secret)))

    async def send(
        self, endpoints: list[EndpointRow], count: int = 1, **payload: object
    ) -> list[DeliveryTask]:
        """Commit ``count`` messages, each to every endpoint, and publish their tasks."""
        tasks = await self.commit(endpoints, count, **payload)
        await self.publish(tasks)
        return tasks

    async def commit(
        self, endpoints: list[EndpointRow], count: int = 1, **payload: object
    ) -> list[DeliveryTask]:
        """``send`` without the publish: the committed messages' tasks, to publish as they are or not."""
        tasks, messages, destinations = [], [], []
        for n in range(count):
            msg_id, created = new_id("msg"), time.time()
            body = orjson.dumps({"n": n, **payload})
            messages.append((msg_id, self.app_id, "test.event", body.decode()))
            for ep in endpoints:
                # published: this test publishes the task; ingest's outbox must not.
                destinations.append((msg_id, ep.id, self.app_id, True))
                tasks.append(DeliveryTask(msg_id, self.app_id, ep.id, "test.event", created, body))
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(
                "message", records=messages, columns=["id", "app_id", "event_type", "payload"]
            )
            await conn.copy_records_to_table(
                "message_destination",
                records=destinations,
                columns=["msg_id", "endpoint_id", "app_id", "published"],
            )
        return tasks

    async def publish(self, tasks: list[DeliveryTask]) -> None:
        for start in range(0, len(tasks), 500):
            await asyncio.gather(
                *(
                    self.exchange.publish(t.to_amqp(), DISPATCH_ROUTING_KEY, mandatory=True)
                    for t in tasks[start : start + 500]
                )
            )

    async def attempts(self, endpoint_id: str) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT * FROM message_attempt WHERE endpoint_id = $1 ORDER BY created_at", endpoint_id
        )

    async def destination(self, msg_id: str, endpoint_id: str) -> asyncpg.Record:
        return await self.pool.fetchrow(
            "SELECT * FROM message_destination WHERE msg_id = $1 AND endpoint_id = $2", msg_id, endpoint_id
        )

    async def queue_depth(self, name: str) -> int:
        # Not channel.declare_queue: a robust channel answers it from a cache.
        raw = await self.channel.get_underlay_channel()
        return (await raw.queue_declare(name, passive=True)).message_count or 0


@pytest.fixture
async def make_world(
    db_pool: asyncpg.Pool, amqp_connection
) -> AsyncIterator[Callable[[Settings], Awaitable[World]]]:
    """A ``World`` on the broker names of the given settings (removed after the test)."""
    made: list[tuple[aio_pika.abc.AbstractChannel, Topology]] = []

    async def make(settings: Settings) -> World:
        channel = await amqp_connection.channel(publisher_confirms=True, on_return_raises=True)
        topology = Topology(settings.amqp_prefix, tuple(settings.retry_schedule))
        made.append((channel, topology))
        w = World(db_pool, channel, topology)
        await w.setup()
        return w

    yield make
    for channel, topology in made:
        await delete_topology(channel, topology)
        await channel.close()


@pytest.fixture
async def world(settings: Settings, make_world) -> World:
    return await make_world(settings)


@pytest.fixture
async def svix_api(settings: Settings) -> AsyncIterator[SvixAsync]:
    """Ingest running in this process, and the official SDK pointed at it."""
    # Imported here: ingest is another service; only these tests need it running.
    from tests.ingest.conftest import start_ingest

    running, runner = await start_ingest(settings)
    yield SvixAsync(settings.api_token, SvixOptions(server_url=running.url))
    await runner.cleanup()


@asynccontextmanager
async def running_dispatcher(settings: Settings, tuning: DispatcherTuning = FAST) -> AsyncIterator[str]:
    """The dispatcher in this process (its ``create_app``), ready; yields its base URL."""
    async with running_dispatcher_app(settings, tuning) as (url, _app):
        yield url


@asynccontextmanager
async def running_dispatcher_app(
    settings: Settings, tuning: DispatcherTuning = FAST
) -> AsyncIterator[tuple[str, web.Application]]:
    """``running_dispatcher``, yielding its application too."""
    runner = web.AppRunner(create_app(settings, tuning), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        await wait_ready(url)
        yield url, runner.app
    finally:
        await runner.cleanup()


async def wait_ready(url: str, timeout: float = 30) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20, every: float = 0.1) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(every)
