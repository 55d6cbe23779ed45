"""The operational events that delivery outcomes are worth, written with them.

Called by the attempt log inside the transaction that commits a batch of outcomes, so an
event exists if and only if the attempt (or the automatic disable) it reports does:
``message.attempt.failing`` (the 4th failure, a retry still to come),
``message.attempt.exhausted`` (the last attempt failed), ``message.attempt.recovered`` (a
success after the warning) and ``endpoint.disabled`` (trigger ``automatic``). The rules
are ``shared/operational.py``'s; outcomes of operational endpoints report nothing, so one
that fails cannot feed itself. A batch with nothing to report costs no query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.dispatcher.attempt_rows import AttemptRow, Entry
from shared import operational_outbox
from shared.operational import (
    FAILING_AFTER,
    OperationalEvent,
    attempt_data,
    attempt_event_type,
    auto_disabled_event,
    event,
    is_operational,
)
from shared.status import MessageStatus

_SUCCESS, _FAIL = int(MessageStatus.SUCCESS), int(MessageStatus.FAIL)


def _due(entries: Sequence[Entry]) -> list[tuple[str, AttemptRow]]:
    due = []
    for entry in entries:
        attempt = entry.attempt
        # Before the 4th attempt only a final failure is worth an event: the usual batch,
        # first-attempt successes, is passed over here at the cost of two comparisons.
        if attempt is None or (attempt.attempt_number < FAILING_AFTER and entry.destination.status != _FAIL):
            continue
        if is_operational(attempt.app_id):
            continue
        event_type = attempt_event_type(
            succeeded=attempt.status == _SUCCESS,
            attempt_number=attempt.attempt_number,
            destination_status=entry.destination.status,
        )
        if event_type is not None:
            due.append((event_type, attempt))
    return due


def _attempt_fields(attempt: AttemptRow) -> dict[str, object]:
    names = ("id", "app_id", "endpoint_id", "msg_id", "response_status_code", "created_at")
    return {name: getattr(attempt, name) for name in names}


async def report(
    conn: asyncpg.Connection, entries: Sequence[Entry], disabled: Sequence[asyncpg.Record]
) -> int:
    """Write the events of this batch; how many deliveries that made."""
    due = _due(entries)
    disabled = [row for row in disabled if not is_operational(row["app_id"])]
    if not (due or disabled) or not await operational_outbox.listening(conn):
        return 0
    app_ids = sorted({a.app_id for _, a in due} | {row["app_id"] for row in disabled})
    app_uids = dict(await conn.fetch("SELECT id, uid FROM application WHERE id = ANY($1::text[])", app_ids))
    msg_ids = sorted({a.msg_id for _, a in due})
    event_ids = dict(
        await conn.fetch("SELECT id, event_id FROM message WHERE id = ANY($1::text[])", msg_ids)
        if msg_ids
        else []
    )
    now = datetime.now(UTC)
    events: list[OperationalEvent] = [
        event(kind, attempt_data(_attempt_fields(a), app_uids.get(a.app_id), event_ids.get(a.msg_id)), now)
        for kind, a in due
    ]
    events += [auto_disabled_event(row, app_uids.get(row["app_id"]), now) for row in disabled]
    return await operational_outbox.write(conn, events)
