"""AMQP ingest: other services publish events to ``<prefix>.ingest``; we accept them
exactly as the HTTP API does, and ack only after the commit.

Body: ``{"appId": "<id or uid>", "eventType": "...", "payload": {...}, "eventId"?,
"channels"?, "tags"?}``; the AMQP ``message_id``, when present, is the idempotency
key. An invalid message is never requeued: it goes to ``<prefix>.ingest.rejected``
with the reason in the ``x-hookline-reject-reason`` header and the consumer goes on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aio_pika
import asyncpg
import orjson
import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from services.ingest.metrics import INGEST_REJECTED, MESSAGES_INGESTED
from services.ingest.models.common import Uid
from services.ingest.models.messages import MessageIn
from services.ingest.service import MessageService
from shared.amqp import confirm_channel
from shared.db import DATABASE_ERRORS
from shared.topology import Topology
from shared.web.errors import ApiError, Conflict, NotFound, PayloadTooLarge

log = structlog.get_logger()

REJECT_REASON_HEADER = "x-hookline-reject-reason"
_ENVELOPE_ALLOWANCE = 64 * 1024  # room for the fields around the payload


class AmqpEvent(MessageIn):
    app_id: Uid


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str  # a short code for metrics
    detail: str  # what a person reads in the rejected queue


@dataclass(frozen=True)
class Retry:
    error: str


Outcome = Ack | Reject | Retry


class IngestConsumer:
    def __init__(self, service: MessageService, topology: Topology, *, max_payload_bytes: int, prefetch: int):
        self._service = service
        self._topology = topology
        self._max_body = max_payload_bytes + _ENVELOPE_ALLOWANCE
        self._prefetch = prefetch
        self._default_exchange: AbstractExchange | None = None

    async def on_connect(self, connection: AbstractRobustConnection) -> None:
        channel = await confirm_channel(connection, prefetch=self._prefetch)
        self._default_exchange = channel.default_exchange
        queue = await channel.get_queue(self._topology.ingest_queue)
        await queue.consume(self.handle)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        outcome = await self.decide(message)
        await self.settle(message, outcome)

    async def decide(self, message: AbstractIncomingMessage) -> Outcome:
        if len(message.body) > self._max_body:
            return Reject("too_large", f"message body is {len(message.body)} bytes")
        try:
            event = AmqpEvent.model_validate(orjson.loads(message.body))
        except orjson.JSONDecodeError as exc:
            return Reject("invalid_json", f"body is not JSON: {exc}")
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return Reject("invalid_schema", errors)
        try:
            await self._service.create(
                event.app_id,
                event,
                idempotency_scope="AMQP ingest" if message.message_id else None,
                idempotency_key=message.message_id,
            )
        except NotFound:
            return Reject("unknown_app", f"no application with id or uid {event.app_id!r}")
        except PayloadTooLarge as exc:
            return Reject("too_large", exc.detail)
        except Conflict as exc:
            log.info("duplicate eventId on AMQP ingest; already accepted", detail=exc.detail)
            return Ack()
        except ApiError as exc:
            return Reject(exc.code, exc.detail)
        except asyncpg.DataError as exc:
            # SQLSTATE class 22 (e.g. a NUL character): the event itself can never commit.
            return Reject("invalid_data", f"the database refused the event's data: {exc}")
        except DATABASE_ERRORS as exc:
            return Retry(repr(exc))
        MESSAGES_INGESTED.labels("amqp").inc()
        return Ack()

    async def settle(self, message: AbstractIncomingMessage, outcome: Outcome) -> None:
        """The one place an ingest message is acked, rejected or requeued."""
        if isinstance(outcome, Reject):
            if not await self._publish_rejected(message, outcome):
                outcome = Retry("could not publish to the rejected queue")
            else:
                INGEST_REJECTED.labels(outcome.reason).inc()
                log.warning(
                    "AMQP ingest message rejected",
                    reason=outcome.reason,
                    detail=outcome.detail[:300],
                )
        if isinstance(outcome, Retry):
            log.warning("AMQP ingest failed; requeueing", error=outcome.error)
            await asyncio.sleep(1)  # don't spin while the database is away
            await message.nack(requeue=True)
            return
        await message.ack()

    async def _publish_rejected(self, message: AbstractIncomingMessage, reject: Reject) -> bool:
        assert self._default_exchange is not None
        headers = dict(message.headers or {})
        headers[REJECT_REASON_HEADER] = f"{reject.reason}: {reject.detail}"[:1000]
        try:
            await self._default_exchange.publish(
                aio_pika.Message(
                    body=message.body,
                    headers=headers,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=self._topology.rejected_queue,
                mandatory=True,
            )
        except (aio_pika.exceptions.AMQPError, RuntimeError, ConnectionError) as exc:
            log.warning("rejected-queue publish failed", error=repr(exc))
            return False
        return True
