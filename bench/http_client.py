"""Fallback HTTP load generator (when wrk is missing): prints accepted messages/s."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

from bench.load import message_body


async def main(url: str, token: str, seconds: float, connections: int) -> None:
    body = message_body().encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ok = 0
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:

        async def worker() -> None:
            nonlocal ok
            while time.perf_counter() < deadline:
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    ok += r.status == 202

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        print(ok / (time.perf_counter() - started))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
