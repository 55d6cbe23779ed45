"""Accepting a message: the one path shared by the HTTP API and AMQP ingest.

One transaction commits the message, one destination row per subscribed endpoint
and, when the caller sent an idempotency key, the response itself. Then the delivery
tasks are published with confirms. A crash between commit and publish loses nothing:
the outbox relay republishes destinations that were never flagged as published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import orjson
import structlog

from services.ingest.models.messages import MessageIn
from services.ingest.outbox import PublishedMarker, task_from_row
from services.ingest.publisher import DeliveryPublisher
from services.ingest.store import applications as app_store
from services.ingest.store import idempotency
from services.ingest.store import messages as store
from shared.ids import has_prefix, new_id
from shared.routing import select_destinations
from shared.tasks import DeliveryTask
from shared.web.errors import Conflict, NotFound, PayloadTooLarge

log = structlog.get_logger()


@dataclass(frozen=True)
class Accepted:
    status: int
    body: bytes  # the JSON response, stored verbatim for idempotent replays
    msg_id: str | None
    destinations: int
    replayed: bool = False


class _Replay(Exception):
    """The idempotency key was used before: roll back and answer what was answered then."""


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
        pool: asyncpg.Pool,
        publisher: DeliveryPublisher,
        marker: PublishedMarker,
        *,
        max_payload_bytes: int,
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._marker = marker
        self._max_payload = max_payload_bytes

    async def create(
        self,
        app_ref: str,
        body: MessageIn,
        *,
        idempotency_scope: str | None = None,
        idempotency_key: str | None = None,
        with_content: bool = True,
    ) -> Accepted:
        payload = orjson.dumps(body.payload)
        if len(payload) > self._max_payload:
            raise PayloadTooLarge(f"payload is {len(payload)} bytes; the limit is {self._max_payload} bytes")
        created_at = datetime.now(UTC)
        msg_id = new_id("msg", created_at.timestamp())
        response = message_json(msg_id, body, created_at, payload, with_content)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if idempotency_key and not await idempotency.claim_with_response(
                    conn, idempotency_scope or "", idempotency_key, 202, response
                ):
                    raise _Replay
                app_id = await self._app_id(conn, app_ref, body)
                try:
                    await store.insert_message(
                        conn,
                        msg_id=msg_id,
                        app_id=app_id,
                        event_id=body.event_id,
                        event_type=body.event_type,
                        payload=payload.decode(),
                        channels=body.channels,
                        tags=body.tags,
                        created_at=created_at,
                    )
                except asyncpg.UniqueViolationError as exc:
                    raise Conflict(f"A message with eventId {body.event_id!r} already exists") from exc
                endpoints = await store.subscribed_endpoints(conn, app_id)
                targets = select_destinations(endpoints, body.event_type, body.channels)
                if targets:
                    await store.insert_destinations(conn, msg_id, app_id, targets, created_at)
        except _Replay:
            stored = await idempotency.stored_response(
                self._pool, idempotency_scope or "", idempotency_key or ""
            )
            return Accepted(stored[0], stored[1], None, 0, replayed=True)
        log.info("message accepted", app_id=app_id, msg_id=msg_id, destinations=len(targets))
        tasks = [
            DeliveryTask(msg_id, app_id, ep_id, body.event_type, created_at.timestamp(), payload)
            for ep_id in targets
        ]
        await self.publish(tasks)
        return Accepted(202, response, msg_id, len(targets))

    async def publish(self, tasks: list[DeliveryTask]) -> None:
        if tasks and await self._publisher.publish(tasks):
            self._marker.add(tasks)

    async def publish_rows(self, rows: list[asyncpg.Record]) -> None:
        """Publish destinations reset for a manual attempt (resend, recover)."""
        await self.publish([task_from_row(r) for r in rows])

    async def _app_id(self, conn: asyncpg.Connection, app_ref: str, body: MessageIn) -> str:
        app = await app_store.get(conn, app_ref)
        if app is not None:
            return app["id"]
        if body.application is None:
            raise NotFound("Application not found")
        # Svix: create the application alongside the message, the path naming its uid.
        values = body.application.model_dump()
        if not has_prefix(app_ref, "app"):
            values["uid"] = values.get("uid") or app_ref
        try:
            async with conn.transaction():
                return (await app_store.insert(conn, values))["id"]
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("An application with this uid already exists") from exc
