"""Ingest's own background loop: expiring idempotency keys (``shared.supervised`` runs it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from services.ingest.store import idempotency

log = structlog.get_logger()

Loop = Callable[[], Awaitable[None]]
IDEMPOTENCY_EXPIRY_SECONDS = 3600


def expire_idempotency_keys(pool: asyncpg.Pool, ttl_hours: int) -> Loop:
    async def loop() -> None:
        while True:
            await idempotency.expire(pool, ttl_hours)
            await asyncio.sleep(IDEMPOTENCY_EXPIRY_SECONDS)

    return loop
