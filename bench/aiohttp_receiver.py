"""Fallback receiver when nginx can't be installed: 204 on one port, 50 % 500 on another,
204 with each arrival's unix time appended to a file on a third."""

from __future__ import annotations

import random
import sys
import time

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=204)


async def flaky(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=500 if random.random() < 0.5 else 204)


async def main(ok_port: int, flaky_port: int, stamp_port: int, stamps: str) -> None:
    out = open(stamps, "a", buffering=1)  # noqa: ASYNC230 - opened once, lives with the process

    async def stamp(request: web.Request) -> web.Response:
        await request.read()
        out.write(f"{time.time():.6f}\n")
        return web.Response(status=204)

    for handler, port in ((ok, ok_port), (flaky, flaky_port), (stamp, stamp_port)):
        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()


if __name__ == "__main__":
    import asyncio

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
    loop.run_forever()
