"""Attempt-log rows its statements matched nothing for (``services.dispatcher.attempt_log``):
counted and logged, not errors."""

from __future__ import annotations

import structlog

from services.dispatcher.metrics import ATTEMPT_LOG_UNMATCHED

log = structlog.get_logger()


def rows(status: str) -> int:
    """The row count of a command tag: ``INSERT 0 12``, ``UPDATE 12``."""
    return int(status.rpartition(" ")[2])


def count_unmatched(attempts: int, outcomes: int) -> None:
    """Rows the statements matched nothing for. Not an error: a message deleted with its
    app, or aged out while its task waited in a retry tier, has nothing left to record. A
    steady count where nothing is deleted means tasks that name another message's time or
    ids (see ``shared.tasks`` for what a task's time must be)."""
    if attempts:
        ATTEMPT_LOG_UNMATCHED.labels("attempt").inc(attempts)
    if outcomes:
        ATTEMPT_LOG_UNMATCHED.labels("outcome").inc(outcomes)
    if attempts or outcomes:
        log.info("attempt log rows matched nothing; not written", attempts=attempts, outcomes=outcomes)
