"""Accepting a message: the one path shared by the HTTP API and AMQP ingest.

One transaction (shared with concurrent creates: see ``group_commit``) commits the
message, one destination row per subscribed endpoint and, when the caller sent an
idempotency key, the response itself. Then the delivery tasks are published with
confirms. A crash between commit and publish loses nothing: the outbox relay
republishes destinations that were never flagged as published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
import structlog

from services.ingest.group_commit import GroupCommitter, PendingMessage, Replayed
from services.ingest.metrics import DESTINATIONS_CREATED
from services.ingest.models.messages import MessageIn
from services.ingest.outbox import PublishedMarker, task_from_row
from services.ingest.publisher import DeliveryPublisher
from services.ingest.schema_gate import SchemaGate
from shared import tracing
from shared.ids import new_id
from shared.tasks import DeliveryTask
from shared.web.errors import PayloadTooLarge

log = structlog.get_logger()


@dataclass(frozen=True)
class Accepted:
    status: int
    body: bytes  # the JSON response, stored verbatim for idempotent replays
    msg_id: str | None
    destinations: int
    replayed: bool = False


def message_json(
    msg_id: str, body: MessageIn, created_at: datetime, payload: bytes, with_content: bool
) -> bytes:
    out = {
        "eventId": body.event_id,
        "eventType": body.event_type,
        "payload": orjson.Fragment(payload) if with_content else {},
        "channels": body.channels,
        "id": msg_id,
        "timestamp": created_at,
        "tags": body.tags,
    }
    return orjson.dumps(out)


class MessageService:
    def __init__(
        self,
        committer: GroupCommitter,
        publisher: DeliveryPublisher,
        marker: PublishedMarker,
        *,
        max_payload_bytes: int,
        schema_gate: SchemaGate | None = None,
    ) -> None:
        self._committer = committer
        self._publisher = publisher
        self._marker = marker
        self._max_payload = max_payload_bytes
        self._schema_gate = schema_gate

    async def create(
        self,
        app_ref: str,
        body: MessageIn,
        *,
        idempotency_scope: str | None = None,
        idempotency_key: str | None = None,
        with_content: bool = True,
    ) -> Accepted:
        with tracing.span("validate"):
            if self._schema_gate is not None:  # a dict lookup unless the type is enforced
                self._schema_gate.check(body.event_type, body.payload)
            payload = orjson.dumps(body.payload)
        if len(payload) > self._max_payload:
            raise PayloadTooLarge(f"payload is {len(payload)} bytes; the limit is {self._max_payload} bytes")
        created_at = datetime.now(UTC)
        msg_id = new_id("msg", created_at.timestamp())
        response = message_json(msg_id, body, created_at, payload, with_content)
        with tracing.span("group_commit", **{"hookline.msg_id": msg_id}):  # the wait and the commit
            result = await self._committer.submit(
                PendingMessage(
                    app_ref=app_ref,
                    body=body,
                    msg_id=msg_id,
                    payload=payload.decode(),
                    created_at=created_at,
                    response=response,
                    idempotency=(idempotency_scope or "", idempotency_key) if idempotency_key else None,
                )
            )
        if isinstance(result, Replayed):
            return Accepted(result.status, result.body, None, 0, replayed=True)
        log.debug("message accepted", app_id=result.app_id, msg_id=msg_id, destinations=len(result.targets))
        trace = tracing.traceparent()  # None unless tracing is on
        created, event_type = created_at.timestamp(), body.event_type
        tasks = [
            DeliveryTask(msg_id, result.app_id, ep_id, event_type, created, payload, traceparent=trace)
            for ep_id in result.targets
        ]
        DESTINATIONS_CREATED.inc(len(tasks))
        with tracing.span("publish_confirm", **{"hookline.tasks": len(tasks)}):
            await self.publish(tasks)
        return Accepted(202, response, msg_id, len(tasks))

    async def publish(self, tasks: list[DeliveryTask]) -> None:
        if tasks and await self._publisher.publish(tasks):
            self._marker.add(tasks)

    async def publish_rows(self, rows: list[asyncpg.Record]) -> None:
        """Publish destinations reset for a manual attempt (resend, recover)."""
        await self.publish([task_from_row(r) for r in rows])
