"""Delivery tasks as AMQP headers: what the dispatcher reads is what ingest wrote."""

from __future__ import annotations

import time

import pytest
from pamqp import decode, encode

from shared.tasks import H_CREATED, DeliveryTask, MalformedTask


def through_amqp(headers: dict[str, object]) -> dict[str, object]:
    """The header table as the broker hands it back: encoded and decoded by pamqp."""
    _, table = decode.field_table(encode.field_table(headers))
    return table


def test_a_task_survives_its_header_table_to_the_millisecond():
    task = DeliveryTask("msg_1", "app_1", "ep_1", "user.created", time.time(), b"{}", attempt=4, trigger=1)
    back = DeliveryTask.from_parts(through_amqp(task.headers()), task.payload)
    assert back.created_at == pytest.approx(task.created_at, abs=0.001)
    assert (back.msg_id, back.app_id, back.endpoint_id, back.event_type, back.attempt, back.trigger) == (
        "msg_1",
        "app_1",
        "ep_1",
        "user.created",
        4,
        1,
    )


def test_a_task_written_with_float_seconds_is_still_read():
    # What ingest wrote before: pamqp stores a float in 32 bits, so only about ±64 s remain.
    now = time.time()
    headers = {**DeliveryTask("m", "a", "e", "t", now, b"").headers(), H_CREATED: now}
    assert DeliveryTask.from_parts(through_amqp(headers), b"").created_at == pytest.approx(now, abs=128)


def test_a_created_time_that_is_no_number_makes_the_task_malformed():
    headers = {**DeliveryTask("m", "a", "e", "t", 0.0, b"").headers(), H_CREATED: "yesterday"}
    with pytest.raises(MalformedTask):
        DeliveryTask.from_parts(headers, b"")
