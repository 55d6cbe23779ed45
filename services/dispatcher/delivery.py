"""One delivery task from its cached endpoint to what became of it: dropped, to be
parked, or sent with the decision its outcome led to.

``DeliveryHandler.handle`` runs the task through the policies
(``services.dispatcher.policy``) in their order, asks ``services.dispatcher.decide``
at each step and sends (``services.dispatcher.sender``) when nothing holds the task
back. It publishes and writes nothing: ``services.dispatcher.settle`` carries out
what it returns, then acks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.dispatcher.decide import (
    Drop,
    Park,
    Rules,
    after_send,
    dropped,
    park,
)
from services.dispatcher.endpoints import Endpoint, EndpointCache
from services.dispatcher.policy import FREE, Permit, Policy
from services.dispatcher.sender import Sender, SendResult
from shared.backoff import Decision
from shared.tasks import DeliveryTask


@dataclass(slots=True)
class Progress:
    """Set once handling has effects — a POST, a published copy: before that a drain may
    drop the task (it returns to the queue unsent); after it, the drain lets it finish."""

    acting: bool = False


@dataclass(slots=True)
class Attempted:
    """The task was POSTed: to this endpoint, with this result, and what comes next."""

    endpoint: Endpoint
    result: SendResult
    decision: Decision


@dataclass(slots=True)
class ToLane:
    """The endpoint is ordered: its lane delivers the task's destination, read from the
    database in message order (``services.dispatcher.lanes``); the task only wakes it."""


TO_LANE = ToLane()


class DeliveryHandler:
    """Runs one task through the policies in their order and sends it when nothing
    holds it back."""

    def __init__(
        self, *, rules: Rules, cache: EndpointCache, policies: Sequence[Policy], sender: Sender
    ) -> None:
        self._rules, self._cache, self._policies = rules, cache, tuple(policies)
        self._sender = sender

    @property
    def rules(self) -> Rules:
        return self._rules

    @property
    def sender(self) -> Sender:
        return self._sender

    def park_at_once(self, task: DeliveryTask) -> Park | None:
        """Where a task goes without a POST when that is clear before anything is awaited —
        its endpoint's circuit is open, or the endpoint's slots and queue are all taken;
        None when the task needs handling in full. A hanging endpoint's tasks take this
        path: the consumer parks them in batches, without a task each."""
        for policy in self._policies:
            if (hold := policy.hold(task.endpoint_id)) is not None:
                return park(task.attempt, hold, self._rules)
        return None

    async def handle(self, task: DeliveryTask, progress: Progress) -> Drop | Park | ToLane | Attempted:
        """What became of the task: dropped, to be parked, handed to its endpoint's lane,
        or sent (then settled)."""
        endpoint = await self._cache.get(task.endpoint_id)
        if (gone := dropped(endpoint)) is not None:
            return gone
        assert endpoint is not None
        if endpoint.ordered:
            return TO_LANE
        permits: list[Permit] = []
        try:
            if (parking := self._admit(task, endpoint, permits)) is not None:
                return parking
            for permit in permits:
                if permit.waits and (hold := await permit.wait()) is not None:
                    if parking := park(task.attempt, hold, self._rules):
                        return parking
            # Waiting may have taken a while: the endpoint and its circuit as they are now.
            endpoint = await self._cache.get(task.endpoint_id)
            if (gone := dropped(endpoint)) is not None:
                return gone
            assert endpoint is not None
            for permit in permits:
                if (hold := permit.recheck()) is not None:
                    if parking := park(task.attempt, hold, self._rules):
                        return parking
            progress.acting = True
            result = await self._sender.send(endpoint, task)
            succeeded = result.outcome.succeeded
            for permit in permits:
                permit.sent(succeeded)
        finally:
            for permit in reversed(permits):  # before settling: no slot waits for the attempt row
                permit.release()
        return Attempted(endpoint, result, after_send(task.attempt, result.outcome, self._rules))

    def _admit(self, task: DeliveryTask, endpoint: Endpoint, permits: list[Permit]) -> Park | None:
        """Each policy's permit, in order; where to park when one holds the task back
        (None: go on — also when there is no tier to park in)."""
        for policy in self._policies:
            permit = policy.permit(endpoint)
            if permit is not FREE:  # holds and waits for nothing: no call to make on it
                permits.append(permit)
            if permit.hold is not None and (parking := park(task.attempt, permit.hold, self._rules)):
                return parking
        return None
