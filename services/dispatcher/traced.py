"""A delivery inside a span that continues the trace its task carried from ingest
(``shared.tracing``); the consumer takes this path only while tracing is on."""

from __future__ import annotations

import time

from aiormq.abc import DeliveredMessage

from services.dispatcher.delivery import Progress
from services.dispatcher.settle import Arrival, Settler
from shared import tracing
from shared.tasks import DeliveryTask


async def settle_traced(
    settle: Settler, message: DeliveredMessage, arrival: Arrival, progress: Progress
) -> None:
    if not isinstance(arrival, DeliveryTask):
        return await settle.run(message, arrival, progress)
    attributes = {
        "hookline.msg_id": arrival.msg_id,
        "hookline.app_id": arrival.app_id,
        "hookline.endpoint_id": arrival.endpoint_id,
        "hookline.attempt": arrival.attempt,
        # from ingest's accept to this process: the queue wait, plus retry tiers' delays
        "hookline.since_created_ms": round((time.time() - arrival.created_at) * 1000, 3),
    }
    with tracing.continued("deliver", arrival.traceparent, "CONSUMER", **attributes):
        await settle.run(message, arrival, progress)
