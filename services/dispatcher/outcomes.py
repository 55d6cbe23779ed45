"""What one attempt leaves behind, for the unordered path (``services.dispatcher.settle``)
and the ordered lanes alike: its attempt row, its dead-letter reason, its metrics."""

from __future__ import annotations

import time

import structlog

from services.dispatcher.attempt_log import FAIL, SUCCESS, AttemptRow, utc
from services.dispatcher.delivery import Attempted
from services.dispatcher.metrics import DELIVERIES, LAG, RETRIES
from services.dispatcher.sender import SendResult
from shared.backoff import DeadLetter, Delivered, RetryIn
from shared.ids import new_id
from shared.tasks import DeliveryTask
from shared.topology import delay_label

log = structlog.get_logger()

# Bound once: ``labels`` looks the child up under a lock on every call.
_SUCCEEDED, _FAILED, _DEAD = (DELIVERIES.labels(o) for o in ("success", "failure", "dead"))


def dead_reason(decision: DeadLetter, result: SendResult) -> str:
    return f"{decision.attempts} attempts; last: {result.error or f'HTTP {result.outcome.status_code}'}"


def attempt_row(task: DeliveryTask, attempted: Attempted) -> AttemptRow:
    result = attempted.result
    return AttemptRow(
        id=new_id("atmpt", result.started_at),
        msg_id=task.msg_id,
        endpoint_id=task.endpoint_id,
        app_id=task.app_id,
        url=attempted.endpoint.url,
        response=result.response,
        response_status_code=result.outcome.status_code,
        response_duration_ms=round(result.duration * 1000),
        status=SUCCESS if isinstance(attempted.decision, Delivered) else FAIL,
        trigger_type=task.trigger,
        attempt_number=task.attempt,
        error=result.error,
        created_at=utc(result.started_at),
        msg_created_at=utc(task.created_at),
        event_type=task.event_type,
    )


def count_attempt(task: DeliveryTask, attempted: Attempted) -> None:
    decision, result = attempted.decision, attempted.result
    if isinstance(decision, Delivered):
        _SUCCEEDED.inc()
        LAG.observe(max(0.0, time.time() - task.created_at))
    elif isinstance(decision, RetryIn):
        _FAILED.inc()
        RETRIES.labels(delay_label(decision.delay)).inc()
    else:
        _DEAD.inc()
    log.debug(
        "attempt made",
        status_code=result.outcome.status_code,
        error=result.error,
        decision=type(decision).__name__,
    )
