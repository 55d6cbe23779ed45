"""Several dispatcher processes in one pod (``HOOKLINE_DISPATCHER_WORKERS`` > 1).

The supervisor serves ``/healthz``, ``/readyz`` and ``/metrics`` on the dispatcher port
and runs N worker processes, each a complete dispatcher without an HTTP port: they
are competing consumers of the dispatch queue, like replicas. Workers write their
metrics in prometheus-client's multiprocess mode; the supervisor serves the sum.
A worker that dies is started again. SIGTERM to the supervisor is passed on to every
worker, which drains as a single dispatcher does; if the supervisor itself is
killed, the kernel sends its workers SIGTERM (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from contextlib import suppress
from multiprocessing.sharedctypes import SynchronizedArray
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, multiprocess

from services.dispatcher.health import healthz, metrics_handler
from services.dispatcher.keys import READINESS
from services.dispatcher.main import create_app
from services.dispatcher.queue_depths import QueueDepthCollector, QueueProbe
from shared.gc_settle import settle_gc
from shared.logging import configure_logging
from shared.settings import Settings
from shared.supervised import supervised
from shared.topology import Topology

log = structlog.get_logger()

_PR_SET_PDEATHSIG = 1
_RESTART_PAUSE = 2.0


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _worker_main(index: int, ready: SynchronizedArray[Any]) -> None:
    app = create_app(Settings())
    app.on_startup.append(settle_gc)  # after its cleanup_ctx: the resources are open
    runner = web.AppRunner(app, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()  # enters the dispatcher's cleanup_ctx: consuming from here on
    while not stop.is_set():
        ready[index] = not app[READINESS].problems()
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    ready[index] = False
    await runner.cleanup()  # drains


def worker_process(index: int, ready: SynchronizedArray[Any]) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which sends SIGTERM
    configure_logging(Settings(), f"dispatcher-{index}")
    structlog.contextvars.bind_contextvars(worker=index)
    with suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(_worker_main(index, ready))


class Workers:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self.ready = self._context.Array("b", settings.dispatcher_workers)
        self._processes: list[Any] = [None] * settings.dispatcher_workers
        self._stopping = False

    def _start(self, index: int) -> None:
        process = self._context.Process(
            target=worker_process, args=(index, self.ready), name=f"dispatcher-{index}", daemon=False
        )
        process.start()
        self._processes[index] = process
        log.info("dispatcher worker started", worker=index, pid=process.pid)

    def start(self) -> None:
        for index in range(len(self._processes)):
            self._start(index)

    async def watch(self) -> None:
        """Starts a worker again when it dies; ``start`` came first."""
        while not self._stopping:
            await asyncio.sleep(_RESTART_PAUSE)
            for index, process in enumerate(self._processes):
                if not self._stopping and not process.is_alive():
                    multiprocess.mark_process_dead(process.pid)
                    self.ready[index] = False
                    log.warning("dispatcher worker died; restarting", worker=index, exitcode=process.exitcode)
                    self._start(index)

    def alive(self) -> bool:
        return all(p is not None and p.is_alive() for p in self._processes)

    async def stop(self, bound: float) -> None:
        self._stopping = True
        for process in self._processes:
            if process is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        for process in self._processes:
            if process is None:
                continue
            await loop.run_in_executor(None, process.join, bound)
            if process.is_alive():
                log.warning("dispatcher worker did not stop in time; killing", pid=process.pid)
                process.kill()
                await loop.run_in_executor(None, process.join, 5)
            multiprocess.mark_process_dead(process.pid)


def supervisor_app(settings: Settings, workers: Workers) -> web.Application:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    depths = QueueDepthCollector()
    registry.register(depths)
    probe = QueueProbe(settings.amqp_urls(), Topology.of(settings), depths)

    async def readyz(_request: web.Request) -> web.Response:
        ready = workers.alive() and all(workers.ready[:])
        status = 200 if ready else 503
        return web.json_response(
            {"status": "ready" if ready else "unavailable", "workers": list(workers.ready[:])}, status=status
        )

    async def lifecycle(_app: web.Application):  # type: ignore[no-untyped-def]
        workers.start()
        async with supervised({"dispatcher-workers": workers.watch}):
            yield
        # The watcher is gone first: it cannot start a worker that is being stopped.
        await workers.stop(settings.drain_seconds + 10)
        await probe.close()

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    metrics = metrics_handler(registry, before=probe.refresh, token=settings.metrics_token)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(lifecycle)
    return app


def run_supervisor(settings: Settings) -> None:
    own_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    if own_dir:
        # Set before any worker starts: spawned workers import prometheus_client with it.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hookline-dispatcher-metrics-")
    try:
        workers = Workers(settings)
        log.info(
            "dispatcher supervisor listening",
            port=settings.dispatcher_port,
            workers=settings.dispatcher_workers,
        )
        web.run_app(
            supervisor_app(settings, workers),
            port=settings.dispatcher_port,
            access_log=None,
            print=None,
            shutdown_timeout=5,
        )
    finally:
        if own_dir:
            shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
