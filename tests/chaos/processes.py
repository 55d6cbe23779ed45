"""Hookline's services as real processes (``python -m services.<name>``), so a test can
SIGKILL one at any moment and start it again on the same port, as an orchestrator would."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

READY_PATH = {"ingest": "/readyz", "dispatcher": "/readyz", "verifier": "/readyz"}
PORT_SETTING = {
    "ingest": "HOOKLINE_INGEST_PORT",
    "dispatcher": "HOOKLINE_DISPATCHER_PORT",
    "verifier": "HOOKLINE_VERIFIER_PORT",
}


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self.port = int(env[PORT_SETTING[name]])
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._process: asyncio.subprocess.Process | None = None
        self.pids: list[int] = []  # every process this service ran as, in order

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self, timeout: float = 60) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # appended across restarts: one file to scan for secrets
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", f"services.{self.name}", env=self._env, stdout=out, stderr=out
            )
        self.pids.append(self._process.pid)
        try:
            await self.wait_ready(timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"{self.name} never became ready:\n{self.tail()}") from None

    async def is_ready(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
                session.get(self.url + READY_PATH[self.name]) as response,
            ):
                return response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def wait_ready(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not await self.is_ready():
                if not self.running:
                    raise AssertionError(f"{self.name} exited:\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, unacked messages and open transactions just vanish."""
        if self.running:
            assert self._process is not None
            self._process.send_signal(signal.SIGKILL)
            await self._process.wait()

    async def stop(self, timeout: float = 30) -> int | None:
        if not self.running:
            return self._process.returncode if self._process else None
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            await self.kill()
        return self._process.returncode

    def memory_kib(self) -> dict[str, int]:
        """``VmRSS`` (now) and ``VmHWM`` (peak resident set) of the running process."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
        return values

    def tree_memory_kib(self) -> dict[str, int]:
        """``memory_kib`` summed over the process and its descendants (the dispatcher's
        workers when ``HOOKLINE_DISPATCHER_WORKERS`` > 1)."""
        pids, total = [self.pid], {"VmRSS": 0, "VmHWM": 0}
        while pids:
            pid = pids.pop()
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                for children in Path(f"/proc/{pid}/task").glob("*/children"):  # any thread's
                    pids += map(int, children.read_text().split())
            except OSError:  # a worker that just exited
                continue
            for line in status.splitlines():
                key, _, rest = line.partition(":")
                if key in total:
                    total[key] += int(rest.split()[0])
        return total

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])
