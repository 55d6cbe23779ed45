"""Ingest's long-running background loops, restarted if one crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from services.ingest.store import idempotency

log = structlog.get_logger()

Loop = Callable[[], Awaitable[None]]
IDEMPOTENCY_EXPIRY_SECONDS = 3600


async def _run_forever(name: str, loop: Loop) -> None:
    while True:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task crashed; restarting", task=name)
            await asyncio.sleep(1)


def start(name: str, loop: Loop) -> asyncio.Task[None]:
    """Runs ``loop`` until cancelled, starting it again a second after a crash."""
    return asyncio.create_task(_run_forever(name, loop), name=name)


def expire_idempotency_keys(pool: asyncpg.Pool, ttl_hours: int) -> Loop:
    async def loop() -> None:
        while True:
            await idempotency.expire(pool, ttl_hours)
            await asyncio.sleep(IDEMPOTENCY_EXPIRY_SECONDS)

    return loop
