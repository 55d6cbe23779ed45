"""Start Hookline's services the way the manifests do — ``python -m services.<name>``
with the dev overlay's ConfigMap as the environment — and talk to them over HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.manifests import PORT_SETTING, SERVICES
from tests.test_entrypoints import free_port


@dataclass
class Running:
    service: str
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@asynccontextmanager
async def run_service(service: str, env: dict[str, str], log: Path):
    port = free_port()
    env = {**os.environ, **env, PORT_SETTING[service]: str(port)}
    out: IO[bytes]
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{service}", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
        try:
            yield Running(service, port, log)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


@asynccontextmanager
async def run_all(env: dict[str, str], logs: Path):
    async with AsyncExitStack() as stack:
        running = {}
        for service in SERVICES:
            running[service] = await stack.enter_async_context(
                run_service(service, env, logs / f"{service}.log")
            )
        yield running


async def wait_until(session: aiohttp.ClientSession, url: str, timeout: float = 30) -> int:
    """Poll ``url`` until it answers 2xx/3xx (Kubernetes' probe success); its status."""
    status = 0
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(url) as response:
                    status = response.status
                    if 200 <= status < 400:
                        return status
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)


@asynccontextmanager
async def ingest_and_dispatcher(
    env: dict[str, str], logs: Path, token: str
) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """Ingest and a dispatcher as processes, both ready: an API session and ingest's URL."""
    async with (
        run_service("ingest", env, logs / "ingest.log") as ingest,
        run_service("dispatcher", env, logs / "dispatcher.log") as dispatcher,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
    ):
        await wait_until(http, ingest.url("/api/v1/health"))
        await wait_until(http, dispatcher.url("/readyz"))
        yield http, ingest.url("")


def exported(text: str) -> dict[str, set[str]]:
    """Sample name -> the label names it carries, from a Prometheus text exposition."""
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples
