"""Publishes the retry copies of tasks parked on arrival in batches, without an asyncio
task per message.

A hanging or failing endpoint's tasks keep arriving among everyone else's, and each
must be moved to a tier (a copy confirmed by the broker, then the original acked)
before the consumer reaches the tasks behind it. Handled one by one like deliveries,
each cost as much dispatcher CPU as a delivery, so one bad endpoint slowed the
healthy ones. Here the consumer hands over tasks whose fate is clear on arrival
(``DeliveryHandler.park_at_once``); each loop turn's copies go out in one write, one
coroutine awaits their confirmations, and the batch goes back to its settler (the
``settled`` callback: ``services.dispatcher.settle``) split into the copies the broker
confirmed and the ones it did not take — whose originals are requeued there, never
acked: a loss is never possible, a duplicate is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from aiormq.abc import DeliveredMessage

from services.dispatcher.decide import Park
from services.dispatcher.publisher import TaskPublisher
from shared.tasks import DeliveryTask


@dataclass(slots=True)
class Parked:
    message: DeliveredMessage  # acked on the channel it came on: tags mean nothing elsewhere
    task: DeliveryTask
    parking: Park


# (confirmed, refused): called once per batch, awaited before the next batch goes out.
Settled = Callable[[list[Parked], list[Parked]], Awaitable[None]]


class Parking:
    def __init__(self, publisher: TaskPublisher, settled: Settled) -> None:
        self._publisher, self._settled = publisher, settled
        self._pending: list[Parked] = []
        self._worker: asyncio.Task[None] | None = None

    def park(self, message: DeliveredMessage, task: DeliveryTask, parking: Park) -> None:
        self._pending.append(Parked(message, task, parking))
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._park(batch)
        finally:
            self._worker = None

    async def _park(self, batch: list[Parked]) -> None:
        written: list[asyncio.Future[asyncio.Future[object]]] = []
        for item in batch:
            try:
                written.append(self._publisher.queue_retry(item.task, item.parking.where.delay))
            except Exception as exc:  # not connected: every later one fails alike
                failed = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                written.append(failed)
        # gather over futures creates no tasks; first each copy's write, then its confirm.
        confirmations = await asyncio.gather(*written, return_exceptions=True)
        outcomes = await asyncio.gather(
            *(c for c in confirmations if not isinstance(c, BaseException)), return_exceptions=True
        )
        outcome_of = iter(outcomes)
        confirmed: list[Parked] = []
        refused: list[Parked] = []
        for item, confirmation in zip(batch, confirmations, strict=True):
            outcome = confirmation if isinstance(confirmation, BaseException) else next(outcome_of)
            (refused if isinstance(outcome, BaseException) else confirmed).append(item)
        await self._settled(confirmed, refused)

    async def drain(self, bound: float) -> None:
        """Let the batch in flight settle, up to ``bound`` seconds; the rest is requeued
        when the channel closes."""
        worker = self._worker
        if worker is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(worker), bound)
        except TimeoutError:
            worker.cancel()
            with suppress(asyncio.CancelledError):
                await worker
