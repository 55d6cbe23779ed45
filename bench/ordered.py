"""An ordered endpoint's delivery rate beside an unordered one's (issue 17, part 5).

The same 4,000 messages of 1 KiB to one endpoint, once with ``"ordered": true`` and once
without, each on a fresh installation with one dispatcher process; rate = deliveries
settled per second until 90 % are. (Not 100 %: a burst to an endpoint the dispatcher has
no answer time for yet parks what exceeds its first 32 slots in the shortest retry tier,
5 s by default, so the unordered run's last few percent measure that tier's wait.)
An ordered endpoint has one request in flight and waits for each
attempt's commit before the next POST; an unordered one has up to
``HOOKLINE_DISPATCHER_ENDPOINT_CONCURRENCY`` (16) POSTs in flight.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import asyncpg

from bench.delivery import Run, settled_rate
from bench.poster import send_messages
from bench.stack import BENCH_DB, BENCH_TOKEN


async def _rate(logdir: Path, url: str, messages: int, *, ordered: bool, **env: str) -> float:
    run = Run(logdir, **env)
    try:
        ingest = run.start("ingest", "/api/v1/health")
        base = f"http://127.0.0.1:{ingest.port}"
        async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}) as session:
            async with session.post("/api/v1/app", json={"name": "bench ordered"}) as r:
                app_id = (await r.json())["id"]
            body = {"url": url, "ordered": ordered}
            async with session.post(f"/api/v1/app/{app_id}/endpoint", json=body) as r:
                assert r.status == 201, await r.text()
            await send_messages(base, app_id, messages)
        async with asyncpg.create_pool(BENCH_DB, min_size=1, max_size=2) as pool:
            run.start("dispatcher", "/healthz")
            return (await settled_rate(pool, app_id, messages, limit_s=300, share=0.9)).rate
    finally:
        run.stop()


async def ordered_rates(logdir: Path, url: str, messages: int = 4000, **env: str) -> dict[str, float]:
    """``env``: the services' settings (the cluster bench points them at its nodes)."""
    ordered = await _rate(logdir, url, messages, ordered=True, **env)
    unordered = await _rate(logdir, url, messages, ordered=False, **env)
    return {"ordered_endpoint": ordered, "unordered_endpoint": unordered}
