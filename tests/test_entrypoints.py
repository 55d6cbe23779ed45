"""The services start the way Kubernetes and `make up` start them: `python -m ...`,
configured only by HOOKLINE_* variables, and stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ingest_runs_as_a_module_and_stops_on_sigterm(settings):
    port = free_port()
    env = {
        **os.environ,
        "HOOKLINE_DATABASE_URL": settings.dsn(),
        "HOOKLINE_AMQP_PREFIX": settings.amqp_prefix,
        "HOOKLINE_API_TOKEN": settings.api_token,
        "HOOKLINE_INGEST_PORT": str(port),
        "HOOKLINE_INGEST_HOST": "127.0.0.1",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.ingest",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/api/v1/health") as r:
                        if r.status == 204:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.status == 200 and "hookline_messages_ingested_total" in await r.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(proc.communicate(), 30))[0].decode()
    assert proc.returncode == 0, output
    assert settings.api_token not in output
