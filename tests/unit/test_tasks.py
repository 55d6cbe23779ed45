"""Delivery tasks as AMQP headers: what the dispatcher reads is what ingest wrote."""

from __future__ import annotations

import time

import pytest
from pamqp import decode, encode

from shared import tasks
from shared.tasks import (
    H_APP,
    H_ATTEMPT,
    H_CREATED,
    H_ENDPOINT,
    H_EVENT_TYPE,
    H_MSG,
    H_TASK,
    H_TRIGGER,
    DeliveryTask,
    MalformedTask,
)


def through_amqp(headers: dict[str, object]) -> dict[str, object]:
    """The header table as the broker hands it back: encoded and decoded by pamqp."""
    _, table = decode.field_table(encode.field_table(headers))
    return table


def named_headers(task: DeliveryTask) -> dict[str, object]:
    """The header table of a task as Hookline wrote it before ``x-hookline-task``."""
    return {
        H_MSG: task.msg_id,
        H_APP: task.app_id,
        H_ENDPOINT: task.endpoint_id,
        H_EVENT_TYPE: task.event_type,
        H_CREATED: round(task.created_at * 1000),
        H_ATTEMPT: task.attempt,
        H_TRIGGER: task.trigger,
    }


def test_a_task_survives_its_header_table_to_the_millisecond():
    task = DeliveryTask("msg_1", "app_1", "ep_1", "user.created", time.time(), b"{}", attempt=4, trigger=1)
    assert list(task.headers()) == [H_TASK] and task.message_id == "msg_1:ep_1"
    back = DeliveryTask.from_parts(through_amqp(task.headers()), task.payload, task.message_id)
    assert back.created_at == pytest.approx(task.created_at, abs=0.001)
    assert (back.msg_id, back.app_id, back.endpoint_id, back.event_type, back.attempt, back.trigger) == (
        "msg_1",
        "app_1",
        "ep_1",
        "user.created",
        4,
        1,
    )


def test_an_event_type_with_spaces_and_a_header_read_as_bytes_survive():
    task = DeliveryTask("msg_1", "app_1", "ep_1", "odd type  name", 1_700_000_000.5, b"{}", attempt=2)
    headers = {H_TASK: str(task.headers()[H_TASK]).encode()}
    back = DeliveryTask.from_parts(headers, b"{}", task.message_id)
    assert (back.event_type, back.created_at, back.attempt) == ("odd type  name", 1_700_000_000.5, 2)


def test_a_task_in_the_named_headers_of_before_is_still_read():
    task = DeliveryTask("msg_1", "app_1", "ep_1", "user.created", time.time(), b"{}", attempt=3, trigger=1)
    back = DeliveryTask.from_parts(through_amqp(named_headers(task)), task.payload, task.message_id)
    assert back == DeliveryTask(
        "msg_1", "app_1", "ep_1", "user.created", back.created_at, b"{}", attempt=3, trigger=1
    )
    assert back.created_at == pytest.approx(task.created_at, abs=0.001)


def test_a_task_written_with_float_seconds_is_still_read():
    # What ingest wrote before: pamqp stores a float in 32 bits, so only about ±64 s remain.
    now = time.time()
    headers = {**named_headers(DeliveryTask("m", "a", "e", "t", now, b"")), H_CREATED: now}
    assert DeliveryTask.from_parts(through_amqp(headers), b"").created_at == pytest.approx(now, abs=128)


def test_a_created_time_that_is_no_number_makes_the_task_malformed():
    headers = {**named_headers(DeliveryTask("m", "a", "e", "t", 0.0, b"")), H_CREATED: "yesterday"}
    with pytest.raises(MalformedTask):
        DeliveryTask.from_parts(headers, b"")


@pytest.mark.parametrize(
    ("packed", "message_id"),
    [
        ("1 app_1 1 0 1700000000000 t", None),  # no message-id
        ("1 app_1 1 0 1700000000000 t", "msg_1"),  # no endpoint in it
        ("2 app_1 1 0 1700000000000 t", "msg_1:ep_1"),  # a layout this version does not know
        ("1 app_1 one 0 1700000000000 t", "msg_1:ep_1"),
        ("1 app_1 1 0 yesterday t", "msg_1:ep_1"),
        ("1 app_1 1 0", "msg_1:ep_1"),
        (7, "msg_1:ep_1"),
    ],
)
def test_a_packed_header_that_does_not_parse_makes_the_task_malformed(packed, message_id):
    with pytest.raises(MalformedTask):
        DeliveryTask.from_parts({H_TASK: packed}, b"{}", message_id)


def _a_day_from_now_ms(extra_ms: int) -> int:
    return round(time.time() * 1000) + 86_400_000 + extra_ms


@pytest.mark.parametrize(
    "created_ms",
    [
        "0",
        "1399999999999",  # a millisecond before the KSUID epoch: no message id is older
        "-1",
        "100000000000000000",  # year 3170843: no date, and settling it used to fail after the POST
        "9" * 400,  # too large for a float
        "later",  # replaced below: a minute past a day ahead of this clock
    ],
)
def test_a_time_that_is_no_messages_makes_the_task_malformed(created_ms):
    if created_ms == "later":
        created_ms = str(_a_day_from_now_ms(60_000))
    with pytest.raises(MalformedTask, match=r"no message's time|too large"):
        DeliveryTask.from_parts({H_TASK: f"1 app_1 1 0 {created_ms} t"}, b"{}", "msg_1:ep_1")


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), 0.0, 1e300, "1e400"])
def test_a_named_layout_time_that_is_no_messages_makes_the_task_malformed(seconds):
    headers = {**named_headers(DeliveryTask("m", "a", "e", "t", 0.0, b"")), H_CREATED: seconds}
    with pytest.raises(MalformedTask, match="no message's time"):
        DeliveryTask.from_parts(headers, b"")


def test_the_edges_of_a_messages_time_are_read():
    # The KSUID epoch itself, and a day ahead less a minute (clocks differ by far less).
    for created_ms in (1_400_000_000_000, _a_day_from_now_ms(-60_000)):
        task = DeliveryTask.from_parts({H_TASK: f"1 app_1 1 0 {created_ms} t"}, b"{}", "msg_1:ep_1")
        assert task.created_at == created_ms / 1000


def test_a_process_told_to_write_the_named_layout_writes_what_older_dispatchers_read():
    task = DeliveryTask("msg_1", "app_1", "ep_1", "user.created", 1.5, b"{}", attempt=2, trigger=1)
    tasks.write_layout("named")
    try:
        headers = task.headers()
    finally:
        tasks.write_layout("packed")
    assert headers == named_headers(task)
    assert task.headers() == {H_TASK: "1 app_1 2 1 1500 user.created"}
