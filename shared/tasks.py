"""The delivery task: what ingest puts on ``<prefix>.dispatch`` for each destination.

The AMQP body is exactly the JSON payload that will be POSTed and signed, so the
dispatcher never re-encodes it and never reads the message from the database. The
routing facts travel with it, the attempt number included (read from there rather
than from RabbitMQ's ``x-death``): the message and endpoint ids in the ``message-id``
property (``<msg_id>:<endpoint_id>``) and the rest in one header,
``x-hookline-task: 1 <app_id> <attempt> <trigger> <created unix ms> <event type>``
(``1``: this layout's version; the event type last, as it is the one free-form field).

One header rather than one per fact: pamqp, pure Python, takes 9.2 µs to read a task's
header frame with seven named headers and 5.0 µs with this one, and 9.0 against 4.6 µs
to write it (``docs/performance.md``), on every task ingest publishes and every one a
dispatcher consumes. Tasks written before, with the seven ``x-hookline-*`` headers
(``H_MSG`` ...), are still read, and a process writes them that way when told to
(``write_layout("named")``, from ``HOOKLINE_TASK_HEADERS``): a dispatcher of an older
version would dead-letter a task in the packed layout as malformed, so a rolling upgrade
from one writes the named layout until no older dispatcher runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

H_TASK = "x-hookline-task"
_LAYOUT = "1"
# The layout before H_TASK, still read (tasks published by an older version may wait in
# a retry tier for hours):
H_MSG = "x-hookline-msg-id"
H_APP = "x-hookline-app-id"
H_ENDPOINT = "x-hookline-endpoint-id"
H_EVENT_TYPE = "x-hookline-event-type"
# When the message was accepted: unix milliseconds, an integer. (pamqp writes a Python float
# as a 32-bit float, which keeps a timestamp only to about ±64 s; tasks written that way
# before still carry float seconds and are read as such.)
H_CREATED = "x-hookline-created-at"
H_ATTEMPT = "x-hookline-attempt"  # 1 for the first attempt of this task
H_TRIGGER = "x-hookline-trigger"  # 0 scheduled, 1 manual (resend / recover)
H_TRACE = "traceparent"  # W3C trace context of the message's trace, when tracing is on

# A message's time can be no earlier than the KSUID epoch (its id holds that time,
# shared/ids.py) and no later than a day past the reader's clock (ingest's clock or
# PostgreSQL's made it, and clocks differ by far less). A task whose time is outside is no message's task:
# the attempt log looks for its rows within a day of that time (shared/history_days.py),
# so it would be delivered and leave no record; far enough out, the time is no date at all
# and settling it failed after the POST, again and again until the poison limit.
_EARLIEST_CREATED = 1_400_000_000
_AHEAD_OF_THE_CLOCK = 86_400

TRIGGER_SCHEDULED = 0
TRIGGER_MANUAL = 1

_packed = True  # how this process writes tasks: one choice per process, as its settings say


def write_layout(layout: Literal["packed", "named"]) -> None:
    """Set how this process writes delivery tasks (each service's ``create_app``)."""
    global _packed
    _packed = layout == "packed"


class MalformedTask(ValueError):
    """A message on the dispatch queue lacks the headers of a delivery task."""


class ImplausibleTime(MalformedTask):
    """A task whose message time no message can have. Its own kind: should a dispatcher's
    clock run more than a day behind, every fresh task lands here, which its metric label
    and the clock quoted in the reason make plain."""


@dataclass(frozen=True, slots=True)
class DeliveryTask:
    msg_id: str
    app_id: str
    endpoint_id: str
    event_type: str
    created_at: float
    payload: bytes
    attempt: int = 1
    trigger: int = TRIGGER_SCHEDULED
    traceparent: str | None = None  # carried unchanged through retries (shared/tracing.py)

    def log_context(self) -> dict[str, object]:
        """What every log line about this task carries (``shared.logging.WORK``)."""
        return {
            "app_id": self.app_id,
            "msg_id": self.msg_id,
            "endpoint_id": self.endpoint_id,
            "attempt": self.attempt,
        }

    def next_attempt(self) -> DeliveryTask:
        return replace(self, attempt=self.attempt + 1)

    @property
    def message_id(self) -> str:
        """The AMQP ``message-id`` property: which destination this task delivers to."""
        return f"{self.msg_id}:{self.endpoint_id}"

    def headers(self) -> dict[str, object]:
        headers: dict[str, object]
        if _packed:
            headers = {
                H_TASK: f"{_LAYOUT} {self.app_id} {self.attempt} {self.trigger}"
                f" {round(self.created_at * 1000)} {self.event_type}"
            }
        else:
            headers = {
                H_MSG: self.msg_id,
                H_APP: self.app_id,
                H_ENDPOINT: self.endpoint_id,
                H_EVENT_TYPE: self.event_type,
                H_CREATED: round(self.created_at * 1000),
                H_ATTEMPT: self.attempt,
                H_TRIGGER: self.trigger,
            }
        if self.traceparent is not None:
            headers[H_TRACE] = self.traceparent
        return headers

    def to_amqp(self, **kwargs: object) -> aio_pika.Message:
        return aio_pika.Message(
            body=self.payload,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=self.message_id,
            headers=self.headers(),  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )

    def amqp_properties(self, cc: str | None = None) -> Basic.Properties:
        """The same properties as ``to_amqp`` for a raw aiormq publish (the hot path:
        it skips aio-pika's Message object, about a sixth of the cost of a publish).
        ``cc``: a routing key the message also carries (a sharded retry's way home)."""
        headers = self.headers()
        if cc is not None:
            headers["CC"] = [cc]
        return Basic.Properties(
            content_type="application/json",
            delivery_mode=2,
            message_id=self.message_id,
            headers=headers,
        )

    @classmethod
    def from_amqp(cls, message: AbstractIncomingMessage) -> DeliveryTask:
        return cls.from_parts(message.headers, message.body, message.message_id)

    @classmethod
    def from_delivered(cls, message: DeliveredMessage) -> DeliveryTask:
        """From a raw aiormq delivery (the dispatcher's consumer)."""
        properties = message.header.properties
        return cls.from_parts(properties.headers, message.body, properties.message_id)

    @classmethod
    def from_parts(
        cls, headers: Mapping[str, object] | None, body: bytes, message_id: str | None = None
    ) -> DeliveryTask:
        h = headers or {}
        try:
            if H_TASK not in h:
                return cls._from_named(h, body)
            if (packed := _text(h[H_TASK])) is None:
                raise ValueError(f"{H_TASK} is not text")
            layout, app_id, attempt, trigger, created_ms, event_type = packed.split(" ", 5)
            msg_id, _, endpoint_id = (message_id or "").partition(":")
            if layout != _LAYOUT or not msg_id or not endpoint_id:
                raise ValueError(f"task layout {layout!r}, message-id {message_id!r}")
            return cls(
                msg_id=msg_id,
                app_id=app_id,
                endpoint_id=endpoint_id,
                event_type=event_type,
                created_at=_a_message_time(int(created_ms) / 1000),
                payload=body,
                attempt=int(attempt),
                trigger=int(trigger),
                traceparent=_text(h.get(H_TRACE)),
            )
        except ImplausibleTime:
            raise
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # Overflow: 400 digits of ms
            raise MalformedTask(f"not a delivery task: {exc}") from exc

    @classmethod
    def _from_named(cls, h: Mapping[str, object], body: bytes) -> DeliveryTask:
        return cls(
            msg_id=str(h[H_MSG]),
            app_id=str(h[H_APP]),
            endpoint_id=str(h[H_ENDPOINT]),
            event_type=str(h[H_EVENT_TYPE]),
            created_at=_a_message_time(_created_seconds(h[H_CREATED])),
            payload=body,
            attempt=int(h.get(H_ATTEMPT, 1)),  # type: ignore[arg-type]
            trigger=int(h.get(H_TRIGGER, TRIGGER_SCHEDULED)),  # type: ignore[arg-type]
            traceparent=_text(h.get(H_TRACE)),
        )

    @property
    def created_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):  # pamqp reads an AMQP long string as bytes
        return raw.decode(errors="replace")
    return raw if isinstance(raw, str) else None


def _a_message_time(seconds: float) -> float:
    now = time.time()
    if not _EARLIEST_CREATED <= seconds <= now + _AHEAD_OF_THE_CLOCK:  # NaN fails too
        raise ImplausibleTime(
            f"not a delivery task: created-at {seconds!r} (unix seconds) is no message's time:"
            f" a message's is from 2014-05-13 to a day past this clock, which reads {now:.3f}"
        )
    return seconds


def _created_seconds(raw: object) -> float:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw / 1000
    return float(raw)  # type: ignore[arg-type]  # float seconds, from before milliseconds
