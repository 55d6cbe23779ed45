"""The delivery task: what ingest puts on ``<prefix>.dispatch`` for each destination.

The AMQP body is exactly the JSON payload that will be POSTed and signed, so the
dispatcher never re-encodes it and never reads the message from the database; the
routing facts travel in headers of Hookline's own (``x-hookline-*``), including the
attempt number, which is read from there rather than from RabbitMQ's ``x-death``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

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

TRIGGER_SCHEDULED = 0
TRIGGER_MANUAL = 1


class MalformedTask(ValueError):
    """A message on the dispatch queue lacks the headers of a delivery task."""


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

    def headers(self) -> dict[str, object]:
        headers: dict[str, object] = {
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
            message_id=f"{self.msg_id}:{self.endpoint_id}",
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
            message_id=f"{self.msg_id}:{self.endpoint_id}",
            headers=headers,
        )

    @classmethod
    def from_amqp(cls, message: AbstractIncomingMessage) -> DeliveryTask:
        return cls.from_parts(message.headers, message.body)

    @classmethod
    def from_delivered(cls, message: DeliveredMessage) -> DeliveryTask:
        """From a raw aiormq delivery (the dispatcher's consumer)."""
        return cls.from_parts(message.header.properties.headers, message.body)

    @classmethod
    def from_parts(cls, headers: Mapping[str, object] | None, body: bytes) -> DeliveryTask:
        h = headers or {}
        try:
            return cls(
                msg_id=str(h[H_MSG]),
                app_id=str(h[H_APP]),
                endpoint_id=str(h[H_ENDPOINT]),
                event_type=str(h[H_EVENT_TYPE]),
                created_at=_created_seconds(h[H_CREATED]),
                payload=body,
                attempt=int(h.get(H_ATTEMPT, 1)),  # type: ignore[arg-type]
                trigger=int(h.get(H_TRIGGER, TRIGGER_SCHEDULED)),  # type: ignore[arg-type]
                traceparent=_text(h.get(H_TRACE)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedTask(f"not a delivery task: {exc}") from exc

    @property
    def created_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.created_at, UTC)


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):  # pamqp reads an AMQP long string as bytes
        return raw.decode(errors="replace")
    return raw if isinstance(raw, str) else None


def _created_seconds(raw: object) -> float:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw / 1000
    return float(raw)  # type: ignore[arg-type]  # float seconds, from before milliseconds
