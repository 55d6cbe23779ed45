"""The verifier running for real on a local port, and a tap on ``<prefix>.inbound``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiohttp
import pytest
from aiohttp import web

from services.verifier.keys import PUBLISHER
from services.verifier.main import create_app
from services.verifier.settings import VerifierSettings
from shared.settings import Settings
from shared.topology import Topology


def unique_id(prefix: str) -> str:
    """Source ids are global in the run's database: one of a kind per test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunningVerifier:
    url: str
    app: web.Application
    settings: Settings
    http: aiohttp.ClientSession

    async def create_source(self, **fields: Any) -> dict[str, Any]:
        async with self.http.post("/api/v1/sources", json=fields) as response:
            assert response.status == 201, await response.text()
            return await response.json()

    async def post(self, source_id: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        async with self.http.post(f"/in/{source_id}", data=body, headers=headers) as response:
            return response.status, await response.json()


async def start_verifier(
    settings: Settings, verifier_settings: VerifierSettings | None = None
) -> tuple[RunningVerifier, web.AppRunner]:
    app = create_app(settings, verifier_settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with asyncio.timeout(20):
        while not app[PUBLISHER].ready:
            await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {settings.api_token}"}
    http = aiohttp.ClientSession(base_url=url, headers=auth)
    return RunningVerifier(url, app, settings, http), runner


@pytest.fixture
def verifier_settings() -> VerifierSettings:
    return VerifierSettings()


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Extra settings for the ``verifier`` fixture; a test parametrizes it to change them."""
    return {}


@pytest.fixture
async def verifier(make_settings, verifier_settings, settings_overrides) -> AsyncIterator[RunningVerifier]:
    settings = make_settings(**{"publish_confirm_timeout": 1.0, **settings_overrides})
    running, runner = await start_verifier(settings, verifier_settings)
    yield running
    await running.http.close()
    await runner.cleanup()


class InboundTap:
    """A queue bound to ``<prefix>.inbound`` with ``#``: everything the verifier hands on."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()
        await self.messages.put(message)

    async def next(self, timeout: float = 5.0) -> aio_pika.abc.AbstractIncomingMessage:
        async with asyncio.timeout(timeout):
            return await self.messages.get()


@pytest.fixture
async def inbound(verifier, amqp_connection) -> AsyncIterator[InboundTap]:
    tap = InboundTap()
    channel = await amqp_connection.channel()
    exchange = await channel.get_exchange(Topology(verifier.settings.amqp_prefix).inbound_exchange)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")
    await queue.consume(tap._on_message)
    yield tap
    await channel.close()


@pytest.fixture
async def expect_nothing_published(verifier, inbound):
    """After a refusal, proves nothing was published: a sentinel event sent now over the
    same channel must be the very next message the tap sees (a channel keeps order)."""
    token = "sentinel-token"
    source = await verifier.create_source(scheme="token", secrets=[token], headerName="X-Token")

    async def check() -> None:
        status, _ = await verifier.post(source["id"], b'{"type":"sentinel"}', {"X-Token": token})
        assert status == 200
        message = await inbound.next()
        assert message.routing_key == f"{source['id']}.sentinel", "something was published"

    return check
