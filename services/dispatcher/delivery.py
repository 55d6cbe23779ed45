"""Handling one delivery task, from the cached endpoint to its durable consequences.

``handle`` returns once everything the attempt led to is safe — the attempt row and
destination status committed, a retry copy or dead letter confirmed by the broker —
and raises otherwise; the consumer acks or requeues on that alone. The decision is
``shared.backoff.decide``; this module only carries it out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

import structlog

from services.dispatcher.attempt_log import (
    FAIL,
    SENDING,
    SUCCESS,
    AttemptLog,
    AttemptNotStored,
    AttemptRow,
    DestinationUpdate,
    Entry,
    utc,
)
from services.dispatcher.circuit import Admission, CircuitBreaker
from services.dispatcher.endpoints import Endpoint, EndpointCache
from services.dispatcher.gates import EndpointGates, EndpointStalled
from services.dispatcher.metrics import (
    ATTEMPT_DURATION,
    CIRCUIT_OPEN,
    DEFERRED,
    DELIVERIES,
    LAG,
    RETRIES,
    SKIPPED,
)
from services.dispatcher.publisher import TaskPublisher
from services.dispatcher.sender import Sender, SendResult
from services.dispatcher.throttle import Throttle
from shared.backoff import DeadLetter, Delivered, RetryIn, decide, deferral, shortest_tier
from shared.ids import new_id
from shared.tasks import TRIGGER_SCHEDULED, DeliveryTask
from shared.topology import delay_label

log = structlog.get_logger()


@dataclass(slots=True)
class Progress:
    """Set once handling has effects — a POST, a published copy: before that a drain may
    drop the task (it returns to the queue unsent); after it, the drain lets it finish."""

    acting: bool = False


class DeliveryHandler:
    def __init__(
        self,
        *,
        schedule: Sequence[float],
        cache: EndpointCache,
        gates: EndpointGates,
        breaker: CircuitBreaker,
        throttle: Throttle,
        sender: Sender,
        attempt_log: AttemptLog,
        publisher: TaskPublisher,
        stall_after: float,
        stalled_parking: float,
    ) -> None:
        self._schedule = tuple(schedule)
        # A full endpoint whose slots have not turned over for ``stall_after`` seconds is
        # stalled: its overflow waits at least ``stalled_parking`` (its requests time out,
        # its circuit opens and cools down) rather than cycling through the shortest tier.
        self._stall_after, self._stalled_parking = stall_after, stalled_parking
        self._cache, self._gates, self._breaker = cache, gates, breaker
        self._throttle, self._sender = throttle, sender
        self._log, self._publisher = attempt_log, publisher

    async def handle(self, task: DeliveryTask, progress: Progress) -> None:
        endpoint = await self._usable_endpoint(task)
        if endpoint is None:
            return
        admission = self._breaker.admit(endpoint.id)
        if admission is Admission.DEFER and await self._defer_for_circuit(task, progress):
            return
        ticket = self._gates.ticket(endpoint.id)
        probe_settled = False
        try:
            if ticket is None and await self._defer(task, self._overflow_tier(task), "backlog", progress):
                return
            try:
                async with ticket or nullcontext():
                    if endpoint.throttle_rate:
                        await self._throttle.wait(endpoint.id, endpoint.throttle_rate)
                    # Waiting may have taken a while: the endpoint and its circuit as they are now.
                    endpoint = await self._usable_endpoint(task)
                    if endpoint is None:
                        return
                    if admission is Admission.SEND:
                        admission = self._breaker.admit(endpoint.id)
                        if admission is Admission.DEFER and await self._defer_for_circuit(task, progress):
                            return
                    progress.acting = True
                    result = await self._sender.send(endpoint, task)
            except EndpointStalled:  # raised only while waiting for a slot: nothing was sent
                await self._defer(task, self._stalled_tier(task), "stalled", progress)
                return
            ATTEMPT_DURATION.observe(result.duration)
            self._breaker.record(
                endpoint.id, succeeded=result.outcome.succeeded, probe=admission is Admission.PROBE
            )
            probe_settled = True
            CIRCUIT_OPEN.set(self._breaker.open_count)
            await self._carry_out(task, endpoint, result)
        finally:
            if admission is Admission.PROBE and not probe_settled:
                self._breaker.abandon_probe(task.endpoint_id)

    def park_at_once(self, task: DeliveryTask) -> tuple[RetryIn, str] | None:
        """Where a task goes without a POST when that is clear before anything is awaited —
        its endpoint's circuit is open, or the endpoint's slots and queue are all taken —
        with the reason; None when the task needs handling in full. A hanging endpoint's
        tasks take this path: the consumer parks them in batches, without a task each."""
        if self._breaker.deferring(task.endpoint_id):
            where = self._circuit_tier(task)
            return (where, "circuit") if where is not None else None
        if self._gates.full(task.endpoint_id):
            where = self._overflow_tier(task)
            return (where, "backlog") if where is not None else None
        return None

    def parked(self, task: DeliveryTask, where: RetryIn, reason: str) -> None:
        """Account for a task whose copy the broker confirmed in a tier."""
        # Only the destination's next_attempt moves, and only for the API to show: the
        # task is safe in its tier once confirmed, so the ack need not wait for this row.
        update = DestinationUpdate(task.msg_id, task.endpoint_id, None, utc(time.time() + where.delay), 0)
        self._log.note(Entry(update))
        DEFERRED.labels(reason).inc()

    async def _usable_endpoint(self, task: DeliveryTask) -> Endpoint | None:
        """The task's endpoint, or None after settling a task whose endpoint is gone or off."""
        endpoint = await self._cache.get(task.endpoint_id)
        if endpoint is None:
            SKIPPED.labels("endpoint_deleted").inc()
            log.info("endpoint no longer exists; task dropped")
        elif endpoint.disabled:
            SKIPPED.labels("endpoint_disabled").inc()
            await self._log.record(Entry(DestinationUpdate(task.msg_id, task.endpoint_id, FAIL, None, 0)))
            return None
        return endpoint

    def _overflow_tier(self, task: DeliveryTask) -> RetryIn | None:
        if self._gates.stalled_for(task.endpoint_id) < self._stall_after:
            return shortest_tier(self._schedule)
        return self._stalled_tier(task)

    def _stalled_tier(self, task: DeliveryTask) -> RetryIn | None:
        return deferral(attempt=task.attempt, schedule=self._schedule, at_least=self._stalled_parking)

    def _circuit_tier(self, task: DeliveryTask) -> RetryIn | None:
        at_least = self._breaker.remaining(task.endpoint_id)
        return deferral(attempt=task.attempt, schedule=self._schedule, at_least=at_least)

    async def _defer_for_circuit(self, task: DeliveryTask, progress: Progress) -> bool:
        return await self._defer(task, self._circuit_tier(task), "circuit", progress)

    async def _defer(
        self, task: DeliveryTask, where: RetryIn | None, reason: str, progress: Progress
    ) -> bool:
        """Park the task in a tier without a POST or an attempt; False if there is no tier."""
        if where is None:
            return False
        progress.acting = True
        await self._publisher.retry(task, where.delay)
        self.parked(task, where, reason)
        return True

    async def _carry_out(self, task: DeliveryTask, endpoint: Endpoint, result: SendResult) -> None:
        decision = decide(attempt=task.attempt, outcome=result.outcome, schedule=self._schedule)
        succeeded = isinstance(decision, Delivered)
        attempt = AttemptRow(
            id=new_id("atmpt", result.started_at),
            msg_id=task.msg_id,
            endpoint_id=task.endpoint_id,
            app_id=task.app_id,
            url=endpoint.url,
            response=result.response,
            response_status_code=result.outcome.status_code,
            response_duration_ms=round(result.duration * 1000),
            status=SUCCESS if succeeded else FAIL,
            trigger_type=task.trigger,
            attempt_number=task.attempt,
            error=result.error,
            created_at=utc(result.started_at),
        )
        effects = []
        if isinstance(decision, Delivered):
            destination = DestinationUpdate(task.msg_id, task.endpoint_id, SUCCESS, None, 1)
        elif isinstance(decision, RetryIn):
            destination = DestinationUpdate(
                task.msg_id, task.endpoint_id, SENDING, utc(result.started_at + decision.delay), 1
            )
            # Retries are automatic whatever started the chain (Svix: trigger "scheduled").
            retry = replace(task.next_attempt(), trigger=TRIGGER_SCHEDULED)
            effects.append(self._publisher.retry(retry, decision.delay))
        else:
            assert isinstance(decision, DeadLetter)
            destination = DestinationUpdate(task.msg_id, task.endpoint_id, FAIL, None, 1)
            reason = result.error or f"HTTP {result.outcome.status_code}"
            effects.append(
                self._publisher.dead(task.to_amqp(), f"{decision.attempts} attempts; last: {reason}")
            )
        record = self._log.record(Entry(destination, attempt, succeeded))
        if effects:
            *published, recorded = await asyncio.gather(*effects, record, return_exceptions=True)
            for failure in published:
                if isinstance(failure, BaseException):
                    raise failure
            # Its retry copy or dead letter confirmed, the task has moved on: an attempt the
            # database refused is logged, and requeueing would POST again and publish one
            # more copy per delivery (copies of copies, tier after tier).
            if isinstance(recorded, BaseException) and not isinstance(recorded, AttemptNotStored):
                raise recorded
        else:  # a success: nothing to publish, and no task for gather to wrap the record in
            await record
        self._count(task, decision, result)

    def _count(self, task: DeliveryTask, decision: object, result: SendResult) -> None:
        if isinstance(decision, Delivered):
            DELIVERIES.labels("success").inc()
            LAG.observe(max(0.0, time.time() - task.created_at))
        elif isinstance(decision, RetryIn):
            DELIVERIES.labels("failure").inc()
            RETRIES.labels(delay_label(decision.delay)).inc()
        else:
            DELIVERIES.labels("dead").inc()
        log.debug(
            "attempt made",
            status_code=result.outcome.status_code,
            error=result.error,
            decision=type(decision).__name__,
        )
