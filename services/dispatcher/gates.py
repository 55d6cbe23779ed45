"""Bounded concurrency per endpoint, with a bounded wait behind it.

At most ``concurrency`` POSTs to one endpoint are in flight in a process, and at most
``backlog`` more of its tasks wait for a turn. A task beyond that gets no ticket: the
caller parks it in a retry tier instead of letting it hold a prefetch slot, so a
slow endpoint can occupy only a bounded share of the consumer's window.

``stalled_for`` tells a busy endpoint from a stalled one: how long every slot has been
held by the same requests. A stalled endpoint's overflow is parked for longer — long
enough for its requests to time out and its circuit to open — instead of coming back
in the shortest tier only to be parked again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(slots=True)
class _Endpoint:
    semaphore: asyncio.Semaphore
    users: int = 0  # holding a slot or waiting for one
    started: list[float] = field(default_factory=list)  # when each held slot was taken


class Ticket:
    """The right to wait for, then hold, one of an endpoint's concurrency slots."""

    def __init__(self, gates: EndpointGates, endpoint_id: str, state: _Endpoint) -> None:
        self._gates, self._endpoint_id, self._state = gates, endpoint_id, state
        self._started: float | None = None

    async def __aenter__(self) -> Ticket:
        try:
            await self._state.semaphore.acquire()
        except BaseException:
            self._gates._leave(self._endpoint_id)
            raise
        self._started = self._gates._clock()
        self._state.started.append(self._started)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._state.started.remove(self._started)  # type: ignore[arg-type]
        self._state.semaphore.release()
        self._gates._leave(self._endpoint_id)


class EndpointGates:
    def __init__(
        self, *, concurrency: int, backlog: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._concurrency, self._capacity, self._clock = concurrency, concurrency + backlog, clock
        self._endpoints: dict[str, _Endpoint] = {}

    def ticket(self, endpoint_id: str) -> Ticket | None:
        """A ticket, or None when the endpoint's slots and backlog are all taken."""
        state = self._endpoints.get(endpoint_id)
        if state is None:
            state = self._endpoints[endpoint_id] = _Endpoint(asyncio.Semaphore(self._concurrency))
        elif state.users >= self._capacity:
            return None
        state.users += 1
        return Ticket(self, endpoint_id, state)

    def stalled_for(self, endpoint_id: str) -> float:
        """Seconds since the newest of the endpoint's in-flight requests started, when all
        its slots are taken (0 while it has a free slot)."""
        state = self._endpoints.get(endpoint_id)
        if state is None or len(state.started) < self._concurrency:
            return 0.0
        return self._clock() - max(state.started)

    def _leave(self, endpoint_id: str) -> None:
        state = self._endpoints[endpoint_id]
        state.users -= 1
        if not state.users:  # idle endpoints cost nothing
            del self._endpoints[endpoint_id]

    def users(self, endpoint_id: str) -> int:
        state = self._endpoints.get(endpoint_id)
        return state.users if state else 0
