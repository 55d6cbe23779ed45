"""Ingest running for real on a local port, and an official Svix SDK client for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from svix.api import SvixAsync, SvixOptions

from services.ingest.keys import PUBLISHER
from services.ingest.main import create_app
from shared.settings import Settings
from shared.topology import Topology


@dataclass
class RunningIngest:
    url: str
    app: web.Application
    settings: Settings

    @property
    def topology(self) -> Topology:
        return Topology(self.settings.amqp_prefix, tuple(self.settings.retry_schedule))

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.api_token}", **extra}


async def start_ingest(
    settings: Settings, *, wait_for_broker: bool = True
) -> tuple[RunningIngest, web.AppRunner]:
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if wait_for_broker:
        async with asyncio.timeout(20):
            while not app[PUBLISHER].ready:
                await asyncio.sleep(0.05)
    return RunningIngest(f"http://127.0.0.1:{port}", app, settings), runner


@pytest.fixture
async def ingest(settings: Settings) -> AsyncIterator[RunningIngest]:
    running, runner = await start_ingest(settings)
    yield running
    await runner.cleanup()


@pytest.fixture
def svix(ingest: RunningIngest) -> SvixAsync:
    return SvixAsync(ingest.settings.api_token, SvixOptions(server_url=ingest.url))


@pytest.fixture
async def http(ingest: RunningIngest) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=ingest.url, headers=ingest.headers()) as session:
        yield session
