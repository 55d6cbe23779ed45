"""The services start the way Kubernetes and `make up` start them: `python -m ...`,
configured only by HOOKLINE_* variables, and stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from scripts.chaos.ports import free_port
from tests.chaos.processes import PORT_SETTING
from tests.support.tcp_proxy import TcpProxy


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


@pytest.mark.parametrize("service", list(PORT_SETTING))
async def test_service_started_while_the_database_is_away_waits_for_it(settings, service):
    # Given PostgreSQL reachable only through a proxy that is down
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    await proxy.cut()
    port = free_port()
    env = {
        **os.environ,
        "HOOKLINE_DATABASE_URL": settings.dsn().replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}"),
        "HOOKLINE_AMQP_PREFIX": settings.amqp_prefix,
        "HOOKLINE_API_TOKEN": settings.api_token,
        "HOOKLINE_LOG_FORMAT": "json",
        PORT_SETTING[service]: str(port),
    }
    # When the service starts
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{service}", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    lines: list[bytes] = []

    async def collect() -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            lines.append(line)

    collecting = asyncio.create_task(collect())
    try:
        # Then it keeps trying instead of exiting
        async with asyncio.timeout(20):
            while not any(b"database unreachable, retrying" in line for line in lines):
                assert proc.returncode is None, b"".join(lines).decode()
                await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        assert proc.returncode is None, b"".join(lines).decode()

        # And once the database answers, the same process becomes ready
        await proxy.restore()
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status < 300:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await collecting
        await proxy.cut()
    assert proc.returncode == 0, b"".join(lines).decode()
