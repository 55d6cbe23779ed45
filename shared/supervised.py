"""Background loops a service runs until shutdown, started again when one crashes.

Every service holds a few loops beside its requests (ingest's outbox relay, the
dispatcher's attempt-log writer and endpoint listener, the verifier's replay expiry).
Such a loop is meant to end only when cancelled: if it raises, it is logged, counted in
``hookline_background_restarts_total{task}`` and started again after a pause that
doubles with each crash in a row (1 s, 2 s, 4 s … up to 30 s), so a loop failing at
once does not spin, and one that ran a while before failing comes back in a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import structlog
from prometheus_client import Counter

log = structlog.get_logger()

Loop = Callable[[], Awaitable[None]]

# ``task`` is one of a handful of fixed names per service: low cardinality.
RESTARTS = Counter(
    "hookline_background_restarts_total",
    "Background tasks started again after they crashed",
    ["task"],
)


def restart_delay(crashes_in_a_row: int, *, first: float = 1.0, cap: float = 30.0) -> float:
    """The pause before the next start, after ``crashes_in_a_row`` (1 or more) crashes."""
    return min(cap, first * 2 ** (max(crashes_in_a_row, 1) - 1))


class Supervised:
    """One loop under supervision; ``running`` is False while it waits to start again."""

    def __init__(self, name: str, loop: Loop, *, first: float = 1.0, cap: float = 30.0) -> None:
        self.name = name
        self.restarts = 0
        self.running = False
        self._loop, self._first, self._cap = loop, first, cap
        self.task: asyncio.Task[None] = asyncio.create_task(self._supervise(), name=name)

    async def _supervise(self) -> None:
        clock = asyncio.get_running_loop().time
        in_a_row = 0
        while True:
            started = clock()
            self.running = True
            try:
                await self._loop()
                raise RuntimeError("background task returned")  # meant to run until cancelled
            except asyncio.CancelledError:
                self.running = False
                raise
            except Exception:
                self.running = False
                # A loop that ran longer than the longest pause was healthy meanwhile.
                in_a_row = 1 if clock() - started >= self._cap else in_a_row + 1
                delay = restart_delay(in_a_row, first=self._first, cap=self._cap)
                self.restarts += 1
                RESTARTS.labels(task=self.name).inc()
                log.exception(
                    "background task crashed; restarting", task=self.name, restarts=self.restarts, delay=delay
                )
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task


@asynccontextmanager
async def supervised(loops: dict[str, Loop]) -> AsyncIterator[dict[str, Supervised]]:
    """Starts each named loop on entry; on exit cancels them all and waits for them."""
    running = {name: Supervised(name, loop) for name, loop in loops.items()}
    try:
        yield running
    finally:
        for each in running.values():
            each.task.cancel()
        for each in running.values():
            await each.stop()
