"""Webhook receivers: real aiohttp servers, one per endpoint, that misbehave on purpose.

Each answers 500 to about 10 % of requests and drops about 5 % of connections without
an answer. A delivery (message x endpoint) is failed at most ``MAX_FAILURES`` times,
so that with the chaos retry schedule every message *can* arrive: a loss then means
Hookline dropped it, never that the dice said so.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiohttp import web

ERROR_RATE = 0.10
DROP_RATE = 0.05
MAX_FAILURES = 2


@dataclass
class Tally:
    delivered: Counter[tuple[str, int]] = field(default_factory=Counter)  # (seq, endpoint) -> 2xx
    failures: Counter[tuple[str, int]] = field(default_factory=Counter)
    answered_500: int = 0
    dropped: int = 0
    requests: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class ReceiverFarm:
    def __init__(self, count: int, *, seed: int, faulty: bool = True) -> None:
        self.count = count
        self.faulty = faulty
        self.tally = Tally()
        self.urls: list[str] = []
        self._random = random.Random(seed)
        self._runners: list[web.AppRunner] = []

    async def start(self) -> ReceiverFarm:
        for index in range(self.count):
            app = web.Application()
            app.router.add_post("/hook", self._handler(index))
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.urls.append(f"http://127.0.0.1:{port}/hook")
            self._runners.append(runner)
        return self

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def _handler(self, index: int):  # type: ignore[no-untyped-def]
        async def handle(request: web.Request) -> web.StreamResponse:
            tally = self.tally
            tally.requests += 1
            body = await request.read()
            seq = str(orjson.loads(body).get("seq"))
            key = (seq, index)
            roll = self._random.random()
            if self.faulty and tally.failures[key] < MAX_FAILURES and roll < ERROR_RATE + DROP_RATE:
                tally.failures[key] += 1
                if roll < DROP_RATE:
                    tally.dropped += 1
                    assert request.transport is not None
                    request.transport.abort()  # the connection dies without a status line
                    raise asyncio.CancelledError
                tally.answered_500 += 1
                return web.Response(status=500, text="chaos says no")
            tally.delivered[key] += 1
            tally.changed.set()
            return web.Response(text="ok")

        return handle

    def missing(self, expected: set[tuple[str, int]]) -> set[tuple[str, int]]:
        return {pair for pair in expected if self.tally.delivered[pair] == 0}

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.tally.delivered.values() if n > 1)

    async def wait_for(self, expected: set[tuple[str, int]], timeout: float) -> set[tuple[str, int]]:
        """Wait until every expected pair arrived or the time is up; what is still missing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (missing := self.missing(expected)) and loop.time() < deadline:
            self.tally.changed.clear()
            try:
                await asyncio.wait_for(self.tally.changed.wait(), min(1.0, deadline - loop.time()))
            except TimeoutError:
                pass
        return missing
