"""The circuit breaker's installation-wide state, in PostgreSQL (migration 012).

PostgreSQL rather than the broker: the dispatcher already holds a pool and a LISTEN loop
there (``shared.listener``), a claim is one conditional ``UPDATE``, and the state outlives
any process. Nothing is read per delivery: a process writes when one of its circuits
opens or closes (rare), claims a probe once per cool-down, and learns what the others
decided from NOTIFY, into the breaker's memory (``CircuitBreaker.apply``). The LISTEN
loop reloads every open circuit when it (re)connects, and once a refresh period.

When the database cannot be reached the breaker runs as it would alone: a claim that
fails counts as won (a probe too many is better than none), and writes are dropped with
a warning; the next transition writes again.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from services.dispatcher.circuit import CircuitBreaker, Claim
from shared.db import DATABASE_ERRORS
from shared.listener import ChangeListener

log = structlog.get_logger()

CHANNEL = "hookline_circuit"
_OPEN = """
INSERT INTO endpoint_circuit (endpoint_id, open_until)
VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (endpoint_id) DO UPDATE SET open_until = excluded.open_until, probe_until = NULL
"""
_CLOSE = "DELETE FROM endpoint_circuit WHERE endpoint_id = $1"
# The probe of a cool-down that ended goes to the one process whose update matches; its
# claim lapses after ``claim_seconds`` if that process dies before the outcome. No row:
# another process closed the circuit (a NOTIFY this one missed).
_CLAIM = """
WITH claimed AS (
    UPDATE endpoint_circuit SET probe_until = now() + make_interval(secs => $2)
    WHERE endpoint_id = $1 AND open_until <= now() AND (probe_until IS NULL OR probe_until < now())
    RETURNING endpoint_id
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM claimed) THEN 'won'
            WHEN EXISTS (SELECT 1 FROM endpoint_circuit WHERE endpoint_id = $1) THEN 'lost'
            ELSE 'closed' END
"""
_OPEN_NOW = """
SELECT endpoint_id, greatest(0, extract(epoch FROM open_until - now()))::float8 AS open_for
FROM endpoint_circuit
"""


class SharedCircuits:
    def __init__(
        self, pool: asyncpg.Pool, dsn: str, breaker: CircuitBreaker, *, claim_seconds: float, refresh: float
    ) -> None:
        self._pool, self._breaker, self._claim_seconds = pool, breaker, claim_seconds
        self._writes: set[asyncio.Task[None]] = set()
        self._listener = ChangeListener(
            dsn,
            CHANNEL,
            self._on_notify,
            what="circuit",
            on_connected=self._reload_soon,
            every=(refresh, self.reload),
        )
        breaker.shared = self

    async def run(self) -> None:
        await self._listener.run()

    # What the breaker tells the installation.

    def opened(self, endpoint_id: str, seconds: float) -> None:
        self._write(_OPEN, endpoint_id, seconds)

    def closed(self, endpoint_id: str) -> None:
        self._write(_CLOSE, endpoint_id)

    async def claim_probe(self, endpoint_id: str) -> Claim:
        try:
            return Claim(await self._pool.fetchval(_CLAIM, endpoint_id, self._claim_seconds))
        except DATABASE_ERRORS as exc:
            log.warning("circuit probe not claimed in the database; probing anyway", endpoint_id=endpoint_id,
                        error=repr(exc))  # fmt: skip
            return Claim.WON

    def _write(self, sql: str, *args: object) -> None:
        async def write() -> None:
            try:
                await self._pool.execute(sql, *args)
            except DATABASE_ERRORS as exc:
                log.warning("circuit state not shared", endpoint_id=args[0], error=repr(exc))

        task = asyncio.get_running_loop().create_task(write())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # What the installation tells this process.

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        endpoint_id, _, state = payload.partition(" ")
        self._breaker.apply(endpoint_id, None if state == "closed" else float(state))

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def reload(self) -> None:
        """Every open circuit of the installation, into this process's breaker."""
        try:
            rows = await self._pool.fetch(_OPEN_NOW)
        except DATABASE_ERRORS as exc:
            log.warning("open circuits not reloaded", error=repr(exc))
            return
        for row in rows:
            self._breaker.apply(row["endpoint_id"], row["open_for"])

    async def close(self) -> None:
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=2)
