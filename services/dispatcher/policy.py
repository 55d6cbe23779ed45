"""The interface every per-endpoint policy offers the delivery handler.

The handler knows policies only through this: the circuit breaker
(``services.dispatcher.circuit``), the per-endpoint gates (``gates``) and the
throttle (``throttle``) each implement it, and the composition root lists them in
the order they are consulted. A new policy is a new module implementing ``Policy``,
plus a ``Hold`` value and its rule in ``services.dispatcher.decide`` if it can hold
a task back in a new way.

For one task, in order:

1. ``hold(endpoint_id)`` — read-only, changes nothing: what holds the endpoint's
   tasks back right now. Asked on arrival, before anything is awaited, so that a
   hanging endpoint's tasks are parked in batches.
2. ``permit(endpoint)`` — may take something (a probe, a place in the queue): a
   ``Permit`` whose ``hold`` says whether the task may go on.
3. ``await permit.wait()`` — wait for its turn (a slot, a time slot), when
   ``permit.waits``; a ``Hold`` if the task should give up its place instead.
4. ``permit.recheck()`` — after every wait, just before the POST: the waits may
   have taken a while.
5. ``permit.sent(succeeded)`` after the POST, then ``permit.release()`` always,
   sent or not, before the task is settled (a slot is not held while the attempt
   row is written).
"""

from __future__ import annotations

from typing import Protocol

from services.dispatcher.decide import Hold
from services.dispatcher.endpoints import Endpoint


class Permit:
    """One task's standing with one policy; this base class holds nothing back."""

    __slots__ = ("hold",)
    waits = False  # True: the handler awaits ``wait`` (most permits have nothing to wait for)

    def __init__(self, hold: Hold | None = None) -> None:
        self.hold = hold

    async def wait(self) -> Hold | None:
        return None

    def recheck(self) -> Hold | None:
        return None

    def sent(self, succeeded: bool) -> None:
        return None

    def release(self) -> None:
        return None


FREE = Permit()  # shared: holds nothing, keeps no state


class Policy(Protocol):
    def hold(self, endpoint_id: str) -> Hold | None: ...

    def permit(self, endpoint: Endpoint) -> Permit: ...
