"""What an ordered endpoint's lane does with its head. Pure, no I/O.

The lane (``services.dispatcher.lanes``) reads its endpoint's oldest undelivered
destinations in message-id order and asks ``head_step`` what to do with the first:
send it, wait for its retry time, or settle it without a POST. A retry keeps the
message at the head: nothing behind it is sent until it succeeds or is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.dispatcher.decide import EndpointState
from shared.tasks import DeliveryTask


@dataclass(frozen=True, slots=True)
class Head:
    """One undelivered destination of the lane's endpoint, as read from the database."""

    msg_id: str
    app_id: str
    event_type: str
    payload: bytes
    created_at: float  # unix seconds
    attempt: int  # the number of the next attempt in this retry chain, from 1
    trigger: int
    wait: float  # seconds until its retry is due (0: now)
    expunged: bool  # its payload was expunged: it is never sent again

    def task(self, endpoint_id: str) -> DeliveryTask:
        """The delivery task this destination would have been on the dispatch queue."""
        return DeliveryTask(
            self.msg_id, self.app_id, endpoint_id, self.event_type, self.created_at, self.payload,
            attempt=self.attempt, trigger=self.trigger,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Send:
    pass


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class Settle:
    """Record the destination final without a POST (``status``: a MessageStatus)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The lane ends: ``hand_back`` when its endpoint is no longer ordered, so the
    destinations left go back to the dispatch queues for unordered delivery."""

    hand_back: bool


SEND = Send()
Step = Send | Wait | Settle | Stop


def head_step(endpoint: EndpointState, ordered: bool, head: Head, *, fail: int, canceled: int) -> Step:
    """``fail`` and ``canceled``: the destination statuses of a disabled endpoint's and an
    expunged message's destinations."""
    if endpoint is EndpointState.DELETED:
        return Stop(hand_back=False)  # its destinations went with it (ON DELETE CASCADE)
    if endpoint is EndpointState.DISABLED:
        # As on the unordered path: a disabled endpoint's tasks are recorded failed.
        return Settle(fail, "endpoint_disabled")
    if not ordered:
        return Stop(hand_back=True)
    if head.expunged:
        return Settle(canceled, "expunged")
    if head.wait > 0:
        return Wait(head.wait)
    return SEND
