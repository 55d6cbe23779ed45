"""Bounded concurrency per endpoint, with a bounded wait behind it.

At most ``concurrency`` POSTs to one endpoint are in flight in a process, and at most
``backlog`` more of its tasks wait for a turn. A task beyond that gets no ticket: the
caller parks it in a retry tier instead of letting it hold a prefetch slot, so a
slow endpoint can occupy only a bounded share of the consumer's window.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Ticket:
    """The right to wait for, then hold, one of an endpoint's concurrency slots."""

    def __init__(self, gates: EndpointGates, endpoint_id: str, semaphore: asyncio.Semaphore) -> None:
        self._gates, self._endpoint_id, self._semaphore = gates, endpoint_id, semaphore

    async def __aenter__(self) -> Ticket:
        try:
            await self._semaphore.acquire()
        except BaseException:
            self._gates._leave(self._endpoint_id)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._semaphore.release()
        self._gates._leave(self._endpoint_id)


class EndpointGates:
    def __init__(self, *, concurrency: int, backlog: int) -> None:
        self._concurrency, self._capacity = concurrency, concurrency + backlog
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    def ticket(self, endpoint_id: str) -> Ticket | None:
        """A ticket, or None when the endpoint's slots and backlog are all taken."""
        users = self._users.get(endpoint_id, 0)
        if users >= self._capacity:
            return None
        if users == 0:
            self._semaphores[endpoint_id] = asyncio.Semaphore(self._concurrency)
        self._users[endpoint_id] = users + 1
        return Ticket(self, endpoint_id, self._semaphores[endpoint_id])

    def _leave(self, endpoint_id: str) -> None:
        users = self._users[endpoint_id] - 1
        if users:
            self._users[endpoint_id] = users
        else:  # idle endpoints cost nothing
            del self._users[endpoint_id], self._semaphores[endpoint_id]

    def users(self, endpoint_id: str) -> int:
        return self._users.get(endpoint_id, 0)
