"""Run the dispatcher the way production does: ``python -m services.dispatcher``."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from typing import IO

from shared.settings import Settings
from tests.dispatcher.conftest import wait_ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(settings: Settings, port: int, **extra: object) -> dict[str, str]:
    return {
        **os.environ,
        "HOOKLINE_DATABASE_URL": settings.dsn(),
        "HOOKLINE_AMQP_URL": str(settings.amqp_url),
        "HOOKLINE_AMQP_PREFIX": settings.amqp_prefix,
        "HOOKLINE_API_TOKEN": settings.api_token,
        "HOOKLINE_ALLOWED_TARGET_CIDRS": ",".join(settings.allowed_target_cidrs),
        "HOOKLINE_RETRY_SCHEDULE": ",".join(f"{d:g}s" for d in settings.retry_schedule),
        "HOOKLINE_DISPATCHER_PORT": str(port),
        "HOOKLINE_LOG_FORMAT": "json",
        **{key: str(value) for key, value in extra.items()},
    }


@dataclass
class DispatcherProcess:
    process: asyncio.subprocess.Process
    url: str
    log: IO[bytes]  # its output goes to a file: a full pipe would stall it

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    async def stop(self, timeout: float = 40) -> tuple[int, str]:
        if self.process.returncode is None:
            self.process.terminate()
        await asyncio.wait_for(self.process.wait(), timeout)
        return self.process.returncode or 0, self.output()

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()


async def start_dispatcher(settings: Settings, **extra: object) -> DispatcherProcess:
    port = free_port()
    log = tempfile.TemporaryFile()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.dispatcher",
        env=environment(settings, port, **extra),
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = DispatcherProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        await wait_ready(running.url, timeout=60)
    except TimeoutError:
        await running.kill()
        raise AssertionError(f"the dispatcher never became ready:\n{running.output()[-3000:]}") from None
    return running
