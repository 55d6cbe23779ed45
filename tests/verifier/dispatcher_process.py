"""The dispatcher as production runs it, ``python -m services.dispatcher``, for the loop
test: its own process, configured only through ``HOOKLINE_*`` variables."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from shared.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def dispatcher_process(settings: Settings, timeout: float = 30) -> AsyncIterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "HOOKLINE_DATABASE_URL": settings.dsn(),
        "HOOKLINE_AMQP_URL": str(settings.amqp_url),
        "HOOKLINE_AMQP_PREFIX": settings.amqp_prefix,
        "HOOKLINE_API_TOKEN": settings.api_token,
        "HOOKLINE_ALLOWED_TARGET_CIDRS": ",".join(settings.allowed_target_cidrs),
        "HOOKLINE_RETRY_SCHEDULE": ",".join(f"{d:g}s" for d in settings.retry_schedule),
        "HOOKLINE_DISPATCHER_PORT": str(port),
        "HOOKLINE_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.dispatcher", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as http:
            while True:
                assert process.returncode is None, "the dispatcher exited during start-up"
                try:
                    async with http.get(f"{url}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 40)
