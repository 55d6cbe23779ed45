"""Receiver for the latency run: answers 204 and appends "<webhook-id><path> <unix time>" per
request to a file, so latency is measured where the webhook actually arrives. A path under
``/fail`` is answered 500 and not recorded (the failing endpoints of a latency variant).

It runs on uvloop, as Hookline's services do: it shares the two cores with the pipeline it
measures, and on asyncio's own loop it took 0.2 of a core at the pipeline's maximum
(2,400 deliveries/s), a tenth of the machine spent on the measurement."""

from __future__ import annotations

import asyncio
import sys
import time

import uvloop
from aiohttp import web


async def main(port: int, path: str) -> None:
    out = open(path, "a", buffering=1)  # noqa: ASYNC230 - opened once, lives with the process

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        if request.path.startswith("/fail"):
            return web.Response(status=500)
        out.write(f"{request.headers.get('webhook-id')}{request.path} {time.time():.6f}\n")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
