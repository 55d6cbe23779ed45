"""Bounded concurrency per endpoint, with a bounded wait behind it.

At most ``concurrency`` POSTs to one endpoint are in flight in a process. Beyond
them, tasks of the endpoint may wait for a turn while they hold a prefetch slot:
``backlog`` of them always, and more while the endpoint serves fast enough to reach
them within ``queue_seconds`` (a hot, healthy endpoint keeps its tasks instead of
pushing them through a retry tier). How fast it serves is the higher of its recent
turnover and ``concurrency`` over its typical answer time (a moving average, so a
burst that finds the endpoint idle is judged by how it answered before, not as an
unknown). An endpoint whose slots have all been held for longer than it normally
takes to answer gets ``backlog`` alone, however fast it was: one that hangs holds at
most ``concurrency + backlog`` slots. A task beyond that gets no ticket: the caller
parks it in a retry tier.

An endpoint that has never answered has no pace to be judged by. Its first burst may
queue without bound (the prefetch window is the bound) while its first requests are
younger than ``_MIN_SLOW``; once its slots have all been held that long without an
answer, it gets ``backlog`` alone and the tasks waiting for it give up their places
(``EndpointUnanswered``: parked as busy, in the shortest tier). Before this, the first
burst to a new endpoint had every task past ``concurrency + backlog`` parked for the
shortest tier (5 s by default) however fast the endpoint turned out to be: a quarter
of a second of a hanging endpoint's queue is the price of not doing that to every
healthy one.

What an endpoint taught is kept for ``_KEEP_IDLE`` seconds after its last task, so
memory follows the endpoints in recent traffic.

``stalled_for`` tells a busy endpoint from a stalled one: how long every slot has been
held by the same requests. A task already waiting behind a stalled endpoint gives up
its place (``EndpointStalled``) once the stall lasts ``stall_after``, so a hanging
endpoint's queue hands its prefetch slots back before its requests time out.

The gates are a delivery policy (``services.dispatcher.policy``): ``hold`` and
``permit`` are how the delivery handler consults them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from services.dispatcher.decide import Full, Stalled
from services.dispatcher.endpoints import Endpoint
from services.dispatcher.policy import Permit

# Turnover is measured over windows of this many seconds; a window younger than
# _MIN_ELAPSED counts as that old, so a few quick answers at its start are no rate.
_RATE_WINDOW, _MIN_ELAPSED = 1.0, 0.25
# The answer-time average: the weight of the newest answer, and the least time counted.
_LATENCY_WEIGHT, _MIN_LATENCY = 0.2, 0.001
# Slots all held for this many typical answer times (and at least _MIN_SLOW seconds)
# mean the endpoint is slower than it was: its queue shrinks to the backlog.
_SLOW_FACTOR, _MIN_SLOW = 4.0, 0.25
_KEEP_IDLE = 60.0
# The queue an endpoint that has never answered may have while its first requests are
# young: no bound of its own (the prefetch window bounds it).
_FIRST_BURST = 1 << 30


class EndpointUnanswered(Exception):
    """Raised to a waiting task: the endpoint has never answered, and every slot has been
    held for ``_MIN_SLOW`` seconds (``held_for``): too slow to wait for, perhaps busy."""

    def __init__(self, held_for: float) -> None:
        super().__init__(f"no answer yet; every slot held for {held_for:.2f}s")
        self.held_for = held_for


class EndpointStalled(Exception):
    """Raised to a waiting task: every slot of its endpoint is held by requests that
    have made no progress for ``stall_after`` seconds."""


@dataclass(slots=True)
class _Endpoint:
    semaphore: asyncio.Semaphore
    window_start: float
    users: int = 0  # holding a slot or waiting for one
    started: list[float] = field(default_factory=list)  # when each held slot was taken
    finished: int = 0  # slots given back in the current window
    rate: float = 0.0  # slots given back per second in the last full window
    latency: float = 0.0  # moving average of how long a slot is held; 0 before any answer
    idle_since: float | None = None  # when its last task left


class Ticket(Permit):
    """The right to wait for, then hold, one of an endpoint's concurrency slots; the
    gates' permit (``wait`` for the slot, ``release`` to give it back)."""

    __slots__ = ("_endpoint_id", "_gates", "_left", "_started", "_state")
    waits = True

    def __init__(self, gates: EndpointGates, endpoint_id: str, state: _Endpoint) -> None:
        self.hold = None
        self._gates, self._endpoint_id, self._state = gates, endpoint_id, state
        self._started: float | None = None
        self._left = False

    async def __aenter__(self) -> Ticket:
        try:
            await self._gates._acquire(self._endpoint_id, self._state)
        except BaseException:
            self._left = True
            self._gates._leave(self._endpoint_id)
            raise
        self._started = self._gates._clock()
        self._state.started.append(self._started)
        return self

    async def wait(self) -> Stalled | None:
        try:
            await self.__aenter__()
        except EndpointStalled:  # raised only while waiting for a slot: nothing was sent
            return Stalled()
        except EndpointUnanswered as exc:
            return Full(exc.held_for)
        return None

    def release(self) -> None:
        self.leave()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.leave()

    def leave(self) -> None:
        """Give the slot back (or the place in the queue, for a ticket never entered);
        once, however often it is called."""
        if self._left:
            return
        self._left = True
        if self._started is None:
            self._gates._leave(self._endpoint_id)
            return
        state, now = self._state, self._gates._clock()
        state.started.remove(self._started)  # type: ignore[arg-type]
        state.finished += 1
        held = max(now - self._started, _MIN_LATENCY)  # type: ignore[operator]
        state.latency = (
            held if not state.latency else state.latency + _LATENCY_WEIGHT * (held - state.latency)
        )
        if now - state.window_start >= _RATE_WINDOW:
            state.rate = state.finished / (now - state.window_start)
            state.window_start, state.finished = now, 0
        state.semaphore.release()
        self._gates._leave(self._endpoint_id)


class EndpointGates:
    def __init__(
        self,
        *,
        concurrency: int,
        backlog: int,
        queue_seconds: float = 1.0,
        stall_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._concurrency, self._backlog, self._clock = concurrency, backlog, clock
        self._queue_seconds, self._stall_after = queue_seconds, stall_after
        self._endpoints: dict[str, _Endpoint] = {}
        self._swept = clock()

    def ticket(self, endpoint_id: str) -> Ticket | None:
        """A ticket, or None when the endpoint's slots and its allowed queue are all taken."""
        if self.full(endpoint_id):
            return None
        state = self._endpoints.get(endpoint_id)
        if state is None:
            state = self._endpoints[endpoint_id] = _Endpoint(
                asyncio.Semaphore(self._concurrency), self._clock()
            )
        state.users += 1
        state.idle_since = None
        return Ticket(self, endpoint_id, state)

    def full(self, endpoint_id: str) -> bool:
        """True when ``ticket`` would refuse: every slot and the allowed queue are taken."""
        state = self._endpoints.get(endpoint_id)
        if state is None or state.users < self._concurrency + self._backlog:
            return False
        return state.users >= self._concurrency + self._queue_allowed(state)

    def _queue_allowed(self, state: _Endpoint) -> int:
        """How many of the endpoint's tasks may wait for a slot (at least ``backlog``)."""
        if not state.latency:
            if self._unanswered_for(state) < _MIN_SLOW:
                return _FIRST_BURST  # no pace known yet: see the module's docstring
            return int(self._turnover(state) * self._queue_seconds)
        if self._held_for(state) > max(_MIN_SLOW, _SLOW_FACTOR * state.latency):
            return self._backlog  # slower than it was, perhaps hanging: no credit for its past
        serves = max(self._turnover(state), self._concurrency / state.latency)
        return int(serves * self._queue_seconds)

    def _turnover(self, state: _Endpoint) -> float:
        """Slots given back per second: the last full window's rate, or the current
        window's so far when that is higher (a busy endpoint need not wait a whole
        window to earn a longer queue)."""
        elapsed = max(self._clock() - state.window_start, _MIN_ELAPSED)
        return max(state.rate, state.finished / elapsed)

    def stalled_for(self, endpoint_id: str) -> float:
        """Seconds since the newest of the endpoint's in-flight requests started, when all
        its slots are taken (0 while it has a free slot)."""
        state = self._endpoints.get(endpoint_id)
        return 0.0 if state is None else self._held_for(state)

    def _unanswered_for(self, state: _Endpoint) -> float:
        """How long the oldest request in flight has been waiting (0: none in flight)."""
        return self._clock() - min(state.started) if state.started else 0.0

    def _held_for(self, state: _Endpoint) -> float:
        if len(state.started) < self._concurrency:
            return 0.0
        return self._clock() - max(state.started)

    async def _acquire(self, endpoint_id: str, state: _Endpoint) -> None:
        if not state.semaphore.locked():
            await state.semaphore.acquire()
            return
        while True:  # wake now and then to see whether the endpoint stalled meanwhile
            wait = self._stall_after
            if wait is not None and not state.latency:  # never answered: look again sooner
                wait = min(wait, _MIN_SLOW)
            try:
                async with asyncio.timeout(wait):
                    await state.semaphore.acquire()
                return
            except TimeoutError:
                assert self._stall_after is not None
                held = self.stalled_for(endpoint_id)
                if held >= self._stall_after:
                    raise EndpointStalled(endpoint_id) from None
                if not state.latency and held >= _MIN_SLOW:
                    raise EndpointUnanswered(held) from None

    def _leave(self, endpoint_id: str) -> None:
        state = self._endpoints[endpoint_id]
        state.users -= 1
        if state.users:
            return
        now = self._clock()
        if state.latency:
            state.idle_since = now  # kept: its next burst is judged by what it taught
        else:
            del self._endpoints[endpoint_id]
        if now - self._swept > _KEEP_IDLE / 4:
            self._swept = now
            for key in [
                k for k, v in self._endpoints.items() if v.idle_since and now - v.idle_since > _KEEP_IDLE
            ]:
                del self._endpoints[key]

    def users(self, endpoint_id: str) -> int:
        state = self._endpoints.get(endpoint_id)
        return state.users if state else 0

    # The delivery policy (services.dispatcher.policy).

    def hold(self, endpoint_id: str) -> Full | None:
        return Full(self.stalled_for(endpoint_id)) if self.full(endpoint_id) else None

    def permit(self, endpoint: Endpoint) -> Permit:
        return self.ticket(endpoint.id) or Permit(Full(self.stalled_for(endpoint.id)))
