"""The rules of operational events (shared/operational.py): which outcome is worth which
event, and the payload shapes of Svix's x-webhooks."""

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from shared import operational as ops
from shared.status import MessageStatus

AT = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("succeeded", "attempt", "destination", "expected"),
    [
        (True, 1, MessageStatus.SUCCESS, None),
        (True, ops.FAILING_AFTER, MessageStatus.SUCCESS, None),  # no warning went out yet
        (True, ops.FAILING_AFTER + 1, MessageStatus.SUCCESS, ops.ATTEMPT_RECOVERED),
        (False, 1, MessageStatus.SENDING, None),
        (False, ops.FAILING_AFTER - 1, MessageStatus.SENDING, None),
        (False, ops.FAILING_AFTER, MessageStatus.SENDING, ops.ATTEMPT_FAILING),
        (False, ops.FAILING_AFTER + 1, MessageStatus.SENDING, None),
        (False, ops.FAILING_AFTER, MessageStatus.FAIL, ops.ATTEMPT_EXHAUSTED),  # last beats warning
        (False, 2, MessageStatus.FAIL, ops.ATTEMPT_EXHAUSTED),
    ],
)
def test_attempt_event_type(succeeded, attempt, destination, expected):
    assert (
        ops.attempt_event_type(succeeded=succeeded, attempt_number=attempt, destination_status=destination)
        == expected
    )


ENDPOINT = {"id": "ep_1", "app_id": "app_1", "uid": None, "disabled": False}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, ENDPOINT, [ops.ENDPOINT_CREATED]),
        (None, {**ENDPOINT, "disabled": True}, [ops.ENDPOINT_CREATED, ops.ENDPOINT_DISABLED]),
        (ENDPOINT, None, [ops.ENDPOINT_DELETED]),
        (ENDPOINT, ENDPOINT, [ops.ENDPOINT_UPDATED]),
        (ENDPOINT, {**ENDPOINT, "disabled": True}, [ops.ENDPOINT_UPDATED, ops.ENDPOINT_DISABLED]),
        ({**ENDPOINT, "disabled": True}, ENDPOINT, [ops.ENDPOINT_UPDATED, ops.ENDPOINT_ENABLED]),
    ],
)
def test_endpoint_change_types(before, after, expected):
    assert ops.endpoint_change_types(before, after) == expected


def test_envelope_is_compact_json_with_a_utc_timestamp():
    local = AT.astimezone(timezone(timedelta(hours=2)))
    event = ops.event(ops.ENDPOINT_CREATED, {"appId": "app_1"}, local)
    assert (
        event.payload
        == '{"type":"endpoint.created","timestamp":"2026-01-02T03:04:05.678Z","data":{"appId":"app_1"}}'
    )


def test_auto_disabled_and_attempt_data_shapes():
    disabled = ops.auto_disabled_event({**ENDPOINT, "uid": "u", "failing_since": AT}, "app-uid", AT)
    assert orjson.loads(disabled.payload)["data"] == {
        "appId": "app_1", "appUid": "app-uid", "endpointId": "ep_1", "endpointUid": "u",
        "failSince": "2026-01-02T03:04:05.678Z", "trigger": "automatic",
    }  # fmt: skip
    attempt = {"id": "atmpt_1", "app_id": "app_1", "endpoint_id": "ep_1", "msg_id": "msg_1",
               "response_status_code": 503, "created_at": AT}  # fmt: skip
    assert ops.attempt_data(attempt, None, "evt") == {
        "appId": "app_1", "appUid": None, "endpointId": "ep_1", "msgId": "msg_1", "msgEventId": "evt",
        "lastAttempt": {"id": "atmpt_1", "responseStatusCode": 503, "timestamp": "2026-01-02T03:04:05.678Z"},
    }  # fmt: skip


def test_only_the_internal_application_is_operational():
    assert ops.is_operational(ops.OPERATIONAL_APP_ID) and not ops.is_operational("app_1")
