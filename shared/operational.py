"""Operational webhook events: their names, payload shapes and when each is due. Pure.

Names and ``data`` fields follow Svix (the OpenAPI document's ``x-webhooks``:
``EndpointCreatedEvent`` ... ``MessageAttemptRecoveredEvent``). Each event is sent as
``{"type": ..., "timestamp": ..., "data": {...}}``. The events are messages of one
internal application (``OPERATIONAL_APP_ID``, migration 008); ``shared/operational_outbox``
writes them, in the transaction of the change they report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.status import MessageStatus

OPERATIONAL_APP_ID = "app_hookline_operational"

ENDPOINT_CREATED = "endpoint.created"
ENDPOINT_UPDATED = "endpoint.updated"
ENDPOINT_DELETED = "endpoint.deleted"
ENDPOINT_DISABLED = "endpoint.disabled"
ENDPOINT_ENABLED = "endpoint.enabled"
ATTEMPT_EXHAUSTED = "message.attempt.exhausted"
ATTEMPT_FAILING = "message.attempt.failing"
ATTEMPT_RECOVERED = "message.attempt.recovered"
EVENT_TYPES = (
    ENDPOINT_CREATED, ENDPOINT_UPDATED, ENDPOINT_DELETED, ENDPOINT_DISABLED, ENDPOINT_ENABLED,
    ATTEMPT_EXHAUSTED, ATTEMPT_FAILING, ATTEMPT_RECOVERED,
)  # fmt: skip

# Svix sends message.attempt.failing "on the fourth failure" (MessageAttemptFailingEvent),
# and message.attempt.recovered on a success after that warning went out.
FAILING_AFTER = 4

# endpoint.disabled's ``trigger`` (Svix's EndpointDisabledTrigger).
AUTOMATIC, MANUAL = "automatic", "manual"


@dataclass(frozen=True, slots=True)
class OperationalEvent:
    type: str
    payload: str  # the compact JSON body, exactly as it is sent and signed


def iso(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and a ``Z``, as Svix writes timestamps."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(event_type: str, data: Mapping[str, Any], at: datetime) -> OperationalEvent:
    body = {"type": event_type, "timestamp": iso(at), "data": dict(data)}
    return OperationalEvent(event_type, orjson.dumps(body).decode())


def is_operational(app_id: str) -> bool:
    """Nothing that happens to an operational endpoint is reported: no loop."""
    return app_id == OPERATIONAL_APP_ID


def endpoint_data(endpoint: Mapping[str, Any], app_uid: str | None) -> dict[str, Any]:
    return {
        "appId": endpoint["app_id"],
        "appUid": app_uid,
        "endpointId": endpoint["id"],
        "endpointUid": endpoint.get("uid"),
    }


def endpoint_change_types(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[str]:
    """What an API change of an endpoint reports: created, deleted or updated, and
    disabled (by hand) or enabled when the flag flipped."""
    if before is None:
        return [ENDPOINT_CREATED] + ([ENDPOINT_DISABLED] if after and after["disabled"] else [])
    if after is None:
        return [ENDPOINT_DELETED]
    types = [ENDPOINT_UPDATED]
    if after["disabled"] and not before["disabled"]:
        types.append(ENDPOINT_DISABLED)
    elif before["disabled"] and not after["disabled"]:
        types.append(ENDPOINT_ENABLED)
    return types


def endpoint_change_events(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, app_uid: str | None, at: datetime
) -> list[OperationalEvent]:
    endpoint = after if after is not None else before
    assert endpoint is not None
    data = endpoint_data(endpoint, app_uid)
    events = []
    for event_type in endpoint_change_types(before, after):
        extra = {"failSince": None, "trigger": MANUAL} if event_type == ENDPOINT_DISABLED else {}
        events.append(event(event_type, {**data, **extra}, at))
    return events


def auto_disabled_event(endpoint: Mapping[str, Any], app_uid: str | None, at: datetime) -> OperationalEvent:
    """The dispatcher disabled an endpoint that failed for HOOKLINE_DISABLE_AFTER."""
    data = {**endpoint_data(endpoint, app_uid), "failSince": iso(endpoint["failing_since"])}
    return event(ENDPOINT_DISABLED, {**data, "trigger": AUTOMATIC}, at)


def attempt_event_type(*, succeeded: bool, attempt_number: int, destination_status: int | None) -> str | None:
    """Which event, if any, one attempt's outcome is worth (Svix's worker rules)."""
    if succeeded:
        return ATTEMPT_RECOVERED if attempt_number > FAILING_AFTER else None
    if destination_status == MessageStatus.FAIL:
        return ATTEMPT_EXHAUSTED  # the last attempt of the schedule failed
    return ATTEMPT_FAILING if attempt_number == FAILING_AFTER else None


def attempt_data(attempt: Mapping[str, Any], app_uid: str | None, msg_event_id: str | None) -> dict[str, Any]:
    return {
        "appId": attempt["app_id"],
        "appUid": app_uid,
        "endpointId": attempt["endpoint_id"],
        "msgId": attempt["msg_id"],
        "msgEventId": msg_event_id,
        "lastAttempt": {
            "id": attempt["id"],
            "responseStatusCode": attempt["response_status_code"],
            "timestamp": iso(attempt["created_at"]),
        },
    }
