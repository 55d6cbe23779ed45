"""Settling a delivery: the one place that acks, requeues, publishes a retry copy or a
dead letter and writes the attempt row.

``Settler.run`` hands a task to the delivery handler, carries out what it returns
(``Drop``, ``Park`` or ``Attempted``: the handler decides, this module acts), then acks
the message — or requeues it after a pause when anything raised, so a persistent fault
does not spin through the queue. The ack waits until everything the delivery led to
is safe: the attempt row and destination status committed, a retry copy or dead letter
confirmed by the broker. A cancelled run settles nothing: its message returns to the
queue when the channel closes (at-least-once; a duplicate is possible, a loss is not).

Tasks parked on arrival (``park``) are published in batches by
``services.dispatcher.parking`` and acked or requeued here when their copies are
confirmed or refused.

Poison guard: the reason each task last failed to settle is remembered, so that when
the broker's ``x-delivery-count`` says it came back too often (``poisoned``), it goes
to the dead queue with that reason instead of being handled again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Protocol

import aio_pika
import structlog
from aiormq.abc import DeliveredMessage

from services.dispatcher.acks import AckBatcher, requeue
from services.dispatcher.attempt_log import (
    FAIL,
    SENDING,
    SUCCESS,
    AttemptLog,
    DestinationUpdate,
    Entry,
    utc,
)
from services.dispatcher.decide import Drop, Park
from services.dispatcher.delivery import Attempted, DeliveryHandler, Progress, ToLane
from services.dispatcher.metrics import (
    ATTEMPT_DURATION,
    DEFERRED,
    INFLIGHT,
    POISONED,
    SKIPPED,
)
from services.dispatcher.outcomes import attempt_row, count_attempt, dead_reason
from services.dispatcher.parking import Parked, Parking
from services.dispatcher.publisher import TaskPublisher
from services.dispatcher.refusals import AttemptNotStored
from shared import tracing
from shared.backoff import DeadLetter, Delivered, RetryIn
from shared.logging import WORK
from shared.response_text import storable_text
from shared.tasks import TRIGGER_SCHEDULED, DeliveryTask, ImplausibleTime, MalformedTask

log = structlog.get_logger()

_REMEMBERED_ERRORS = 4096  # the last settlement error per task, for the poison reason


@dataclass(frozen=True, slots=True)
class Poisoned:
    """A task delivered too many times without settling: dead-lettered, not handled."""

    task: DeliveryTask
    deliveries: int
    reason: str


Arrival = DeliveryTask | MalformedTask | Poisoned


class LaneWaker(Protocol):
    """``services.dispatcher.lanes.OrderedLanes``: returns once the endpoint's lane runs
    in some process, so that the task that woke it may be acked."""

    async def wake(self, endpoint_id: str) -> None: ...


def _task_key(task: DeliveryTask) -> tuple[str, str, int]:
    return task.msg_id, task.endpoint_id, task.attempt


class Settler:
    def __init__(
        self,
        handler: DeliveryHandler,
        publisher: TaskPublisher,
        attempt_log: AttemptLog,
        *,
        lanes: LaneWaker | None = None,
        requeue_pause: float = 1.0,
    ) -> None:
        self._handler, self._publisher, self._log = handler, publisher, attempt_log
        self._lanes = lanes
        self._requeue_pause = requeue_pause
        self._acks = AckBatcher()
        self._parking = Parking(publisher, self._parked)
        self._last_errors: dict[tuple[str, str, int], str] = {}

    async def run(self, message: DeliveredMessage, arrival: Arrival, progress: Progress) -> None:
        INFLIGHT.inc()
        try:
            if isinstance(arrival, DeliveryTask):
                WORK.set(arrival)  # this asyncio task's own context: no reset needed
                settlement = await self._handler.handle(arrival, progress)
                if isinstance(settlement, Attempted):  # the common case, without a coroutine more
                    if tracing.TRACER is None:
                        await self._attempted(arrival, settlement)
                    else:
                        with tracing.span("attempt_log_and_ack"):
                            await self._attempted(arrival, settlement)
                else:
                    await self._carry_out(arrival, settlement, progress)
            else:
                progress.acting = True
                await self._dead_letter(message, arrival)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            deliveries = delivery_count(message) + 1
            if isinstance(exc, AttemptNotStored):  # the attempt log said why: no traceback
                log.error("delivery not settled; requeueing", error=str(exc), deliveries=deliveries)
            else:
                log.exception("delivery not settled; requeueing", deliveries=deliveries)
            if isinstance(arrival, DeliveryTask):
                self._remember(arrival, exc)
            await self._requeue([message])
            return
        finally:
            INFLIGHT.dec()
        self._ack(message)

    def park(self, message: DeliveredMessage, task: DeliveryTask, parking: Park) -> None:
        """Park a task whose fate was clear on arrival, batched with others."""
        self._parking.park(message, task, parking)

    def poisoned(self, task: DeliveryTask, deliveries: int) -> Poisoned:
        last = self._last_errors.pop(_task_key(task), None)
        # Another process (a replica, or this one before a restart) may have seen it fail.
        reason = f"failed to settle {deliveries} times: {last or 'last error not seen by this process'}"
        return Poisoned(task, deliveries, reason)

    async def drain(self, bound: float) -> None:
        """Let the parking batch in flight settle within ``bound`` seconds, then hand every
        collected ack to the connection (before the channel closes)."""
        await self._parking.drain(bound)
        await self._acks.flush()

    def _ack(self, message: DeliveredMessage) -> None:
        assert message.delivery_tag is not None
        # On the channel it came on, never a later one: its tag means nothing elsewhere.
        self._acks.ack(message.channel, message.delivery_tag)

    async def _requeue(self, messages: list[DeliveredMessage]) -> None:
        await asyncio.sleep(self._requeue_pause)
        for message in messages:
            await requeue(message)

    def _remember(self, task: DeliveryTask, exc: Exception) -> None:
        if len(self._last_errors) >= _REMEMBERED_ERRORS:
            self._last_errors.pop(next(iter(self._last_errors)))
        # storable: it may quote a receiver, and goes into an AMQP header (UTF-8) later.
        self._last_errors[_task_key(task)] = storable_text(f"{type(exc).__name__}: {exc}"[:300])

    async def _carry_out(
        self, task: DeliveryTask, settlement: Drop | Park | ToLane, progress: Progress
    ) -> None:
        if isinstance(settlement, ToLane):
            if self._lanes is None:
                raise RuntimeError("an ordered endpoint's task, and no lanes to deliver it")
            await self._lanes.wake(task.endpoint_id)
        elif isinstance(settlement, Park):
            progress.acting = True
            await self._publisher.retry(task, settlement.where.delay)
            self._note_parked(task, settlement)
        else:
            SKIPPED.labels(settlement.reason).inc()
            if settlement.reason == "endpoint_deleted":
                log.info("endpoint no longer exists; task dropped")
            else:
                update = DestinationUpdate(task.msg_id, task.endpoint_id, FAIL, None, 0, utc(task.created_at))
                await self._log.record(Entry(update))

    async def _attempted(self, task: DeliveryTask, attempted: Attempted) -> None:
        """Write the attempt row and destination status, and publish the retry copy or
        dead letter the decision asks for, concurrently."""
        decision, result = attempted.decision, attempted.result
        ATTEMPT_DURATION.observe(result.duration)
        succeeded = isinstance(decision, Delivered)
        effects = []
        if isinstance(decision, Delivered):
            destination = DestinationUpdate(
                task.msg_id, task.endpoint_id, SUCCESS, None, 1, utc(task.created_at)
            )
        elif isinstance(decision, RetryIn):
            next_attempt = utc(result.started_at + decision.delay)
            destination = DestinationUpdate(
                task.msg_id, task.endpoint_id, SENDING, next_attempt, 1, utc(task.created_at)
            )
            # Retries are automatic whatever started the chain (Svix: trigger "scheduled").
            retry = replace(task.next_attempt(), trigger=TRIGGER_SCHEDULED)
            effects.append(self._publisher.retry(retry, decision.delay))
        else:
            assert isinstance(decision, DeadLetter)
            destination = DestinationUpdate(
                task.msg_id, task.endpoint_id, FAIL, None, 1, utc(task.created_at)
            )
            effects.append(self._publisher.dead(task.to_amqp(), dead_reason(decision, result)))
        record = self._log.record(Entry(destination, attempt_row(task, attempted), succeeded))
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
        count_attempt(task, attempted)

    async def _dead_letter(self, message: DeliveredMessage, arrival: MalformedTask | Poisoned) -> None:
        if isinstance(arrival, Poisoned):
            WORK.set(arrival.task)
            POISONED.inc()
            log.error(
                "task failed to settle too often; dead-lettered",
                deliveries=arrival.deliveries,
                reason=arrival.reason,
            )
            await self._publisher.dead(arrival.task.to_amqp(), arrival.reason)
            return
        SKIPPED.labels("implausible_time" if isinstance(arrival, ImplausibleTime) else "malformed").inc()
        log.warning("not a delivery task; dead-lettered", error=str(arrival))
        headers = message.header.properties.headers
        await self._publisher.dead(aio_pika.Message(message.body, headers=headers), str(arrival))

    async def _parked(self, confirmed: list[Parked], refused: list[Parked]) -> None:
        for item in confirmed:
            self._ack(item.message)
            self._note_parked(item.task, item.parking)
        if refused:
            log.warning("retry copies not confirmed; requeueing their tasks", count=len(refused))
            await self._requeue([item.message for item in refused])

    def _note_parked(self, task: DeliveryTask, parking: Park) -> None:
        """Account for a task whose copy the broker confirmed in a tier."""
        # Only the destination's next_attempt moves, and only for the API to show: the
        # task is safe in its tier once confirmed, so the ack need not wait for this row.
        next_attempt = utc(time.time() + parking.where.delay)
        self._log.note(
            Entry(
                DestinationUpdate(task.msg_id, task.endpoint_id, None, next_attempt, 0, utc(task.created_at))
            )
        )
        DEFERRED.labels(parking.reason).inc()


_DELIVERY_COUNT = "x-delivery-count"  # set by a quorum queue on each redelivery


def delivery_count(message: DeliveredMessage) -> int:
    """How many times the broker delivered this message before without its being settled."""
    raw = (message.header.properties.headers or {}).get(_DELIVERY_COUNT, 0)
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
