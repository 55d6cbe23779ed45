"""Attempts and destinations: what was sent where, and manual re-sends."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import orjson
from aiohttp import web

from services.ingest.api.common import app_or_404, endpoint_or_404, message_or_404, page_response, pool_of
from services.ingest.api.messages import add_time_filters, message_out
from services.ingest.keys import MESSAGES
from services.ingest.models.common import ListQuery, ListResponse
from services.ingest.models.endpoints import RecoverIn, RecoverOut
from services.ingest.models.messages import (
    AttemptListQuery,
    EndpointMessageListQuery,
    EndpointMessageOut,
    MessageAttemptOut,
    MessageEndpointOut,
)
from services.ingest.store import endpoints as endpoint_store
from services.ingest.store import messages as store
from services.ingest.store.sql import Where, fetch_page
from shared.ids import new_id
from shared.status import MessageStatus
from shared.web.errors import BadRequest, NotFound
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Message Attempt"

ATTEMPT_SELECT = (
    "SELECT a.id, a.msg_id, a.endpoint_id, a.url, a.response, a.response_status_code,"
    " a.response_duration_ms, a.status, a.trigger_type, a.created_at,"
    " m.event_id, m.event_type, m.payload, m.channels, m.tags, m.created_at AS msg_created_at"
    " FROM message_attempt a JOIN message m ON m.id = a.msg_id"
)


def attempt_out(row: asyncpg.Record, with_msg: bool = False, with_content: bool = False) -> MessageAttemptOut:
    msg = None
    if with_msg:
        msg = message_out(
            {**dict(row), "id": row["msg_id"], "created_at": row["msg_created_at"]}, with_content
        )
    return MessageAttemptOut(
        url=row["url"],
        response=row["response"],
        response_status_code=row["response_status_code"],
        response_duration_ms=row["response_duration_ms"],
        status=row["status"],
        status_text=MessageStatus(row["status"]).text,
        trigger_type=row["trigger_type"],
        msg_id=row["msg_id"],
        endpoint_id=row["endpoint_id"],
        id=row["id"],
        timestamp=row["created_at"],
        msg=msg,
    )


def _attempt_filters(where: Where, query: AttemptListQuery) -> None:
    if query.status is not None:
        where.add("a.status = {}", int(query.status))
    if query.status_code_class is not None:
        low = int(query.status_code_class)
        where.add(
            "a.response_status_code >= {} AND a.response_status_code < {}",
            low,
            low + 100 if low else 100,
        )
    if query.channel:
        where.add("{} = ANY(m.channels)", query.channel)
    if query.tag:
        where.add("{} = ANY(m.tags)", query.tag)
    if query.event_types:
        where.add(store.ATTEMPT_EVENT_TYPES, query.event_types)
    add_time_filters(where, "a.id", "atmpt", query.before, query.after)


async def _attempt_page(
    request: web.Request, where: Where, query: AttemptListQuery
) -> ListResponse[MessageAttemptOut]:
    _attempt_filters(where, query)
    page = await fetch_page(
        pool_of(request),
        select=ATTEMPT_SELECT,
        where=where,
        key="a.id",
        limit=query.limit,
        iterator=query.iterator,
        descending=True,
    )
    return page_response(page, lambda r: attempt_out(r, query.with_msg, query.with_content))


@routes.get(
    "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
    query=AttemptListQuery,
    response=ListResponse[MessageAttemptOut],
    tag=TAG,
)
async def list_attempts_by_endpoint(
    request: web.Request, query: AttemptListQuery
) -> ListResponse[MessageAttemptOut]:
    """Attempts made to one endpoint, newest first."""
    endpoint = await endpoint_or_404(request)
    return await _attempt_page(request, Where().add("a.endpoint_id = {}", endpoint["id"]), query)


@routes.get(
    "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
    query=AttemptListQuery,
    response=ListResponse[MessageAttemptOut],
    tag=TAG,
)
async def list_attempts_by_msg(
    request: web.Request, query: AttemptListQuery
) -> ListResponse[MessageAttemptOut]:
    """Attempts made for one message, newest first."""
    app = await app_or_404(request)
    msg = await message_or_404(request, app["id"])
    where = store.attempts_of(msg)
    if query.endpoint_id:
        endpoint = await endpoint_store.get(pool_of(request), app["id"], query.endpoint_id)
        where.add("a.endpoint_id = {}", endpoint["id"] if endpoint else query.endpoint_id)
    return await _attempt_page(request, where, query)


@routes.get("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", response=MessageAttemptOut, tag=TAG)
async def get_attempt(request: web.Request) -> MessageAttemptOut:
    """One attempt."""
    app = await app_or_404(request)
    row = await pool_of(request).fetchrow(
        ATTEMPT_SELECT + " WHERE a.app_id = $1 AND a.id = $2 AND (m.id = $3 OR m.event_id = $3)",
        app["id"],
        request.match_info["attempt_id"],
        request.match_info["msg_id"],
    )
    if row is None:
        raise NotFound("Attempt not found")
    return attempt_out(row)


@routes.get(
    "/api/v1/app/{app_id}/msg/{msg_id}/endpoint",
    query=ListQuery,
    response=ListResponse[MessageEndpointOut],
    tag=TAG,
)
async def list_attempted_destinations(
    request: web.Request, query: ListQuery
) -> ListResponse[MessageEndpointOut]:
    """The endpoints a message was sent to, with its delivery status at each."""
    app = await app_or_404(request)
    msg = await message_or_404(request, app["id"])
    page = await fetch_page(
        pool_of(request),
        select="SELECT e.id, e.url, e.description, e.throttle_rate, e.uid, e.disabled, e.event_types,"
        " e.channels, e.created_at, e.updated_at, d.status, d.next_attempt"
        " FROM message_destination d JOIN endpoint e ON e.id = d.endpoint_id",
        where=store.destinations_of(msg),
        key="e.id",
        limit=query.limit,
        iterator=query.iterator,
        descending=False,
    )
    return page_response(
        page,
        lambda r: MessageEndpointOut.model_validate(
            {**dict(r), "status_text": MessageStatus(r["status"]).text, "next_attempt": _next(r)}
        ),
    )


def _next(row: asyncpg.Record) -> datetime | None:
    """Svix shows nextAttempt only while a delivery is still pending or retrying."""
    return row["next_attempt"] if row["status"] in (MessageStatus.PENDING, MessageStatus.SENDING) else None


@routes.get(
    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
    query=EndpointMessageListQuery,
    response=ListResponse[EndpointMessageOut],
    tag=TAG,
)
async def list_attempted_messages(
    request: web.Request, query: EndpointMessageListQuery
) -> ListResponse[EndpointMessageOut]:
    """The messages sent to an endpoint, newest first, with their status there."""
    endpoint = await endpoint_or_404(request)
    where = Where().add("d.endpoint_id = {}", endpoint["id"])
    if query.status is not None:
        where.add("d.status = {}", int(query.status))
    if query.channel:
        where.add("{} = ANY(m.channels)", query.channel)
    if query.tag:
        where.add("{} = ANY(m.tags)", query.tag)
    if query.event_types:
        where.add("m.event_type = ANY({})", query.event_types)
    add_time_filters(where, "m.id", "msg", query.before, query.after)
    page = await fetch_page(
        pool_of(request),
        select="SELECT m.id, m.event_id, m.event_type, m.payload, m.channels, m.tags, m.created_at,"
        " d.status, d.next_attempt FROM message_destination d JOIN message m ON m.id = d.msg_id",
        where=where,
        key="m.id",
        limit=query.limit,
        iterator=query.iterator,
        descending=True,
    )
    return ListResponse[EndpointMessageOut](
        data=[
            EndpointMessageOut(
                status=r["status"],
                status_text=MessageStatus(r["status"]).text,
                next_attempt=_next(r),
                event_id=r["event_id"],
                event_type=r["event_type"],
                payload=orjson.loads(r["payload"]) if query.with_content else {},
                channels=r["channels"],
                id=r["id"],
                timestamp=r["created_at"],
                tags=r["tags"],
            )
            for r in page.rows
        ],
        iterator=page.iterator,
        prev_iterator=page.prev_iterator,
        done=page.done,
    )


@routes.post(
    "/api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
    status=202,
    tag=TAG,
    headers=["idempotency-key"],
)
async def resend(request: web.Request) -> dict:
    """Send a message to an endpoint again, as a manual attempt."""
    endpoint = await endpoint_or_404(request)
    pool = pool_of(request)
    msg = await store.get_message(pool, endpoint["app_id"], request.match_info["msg_id"])
    if msg is None:
        raise NotFound("Message not found")
    if msg["expunged_at"] is not None:
        raise BadRequest("The message's payload was expunged: it can't be resent", code="payload_expunged")
    async with pool.acquire() as conn, conn.transaction():
        # A message can be resent to an endpoint it never went to (e.g. added later).
        await conn.execute(
            # created_at is the message's: the row shares its partition (migration 006).
            "INSERT INTO message_destination (msg_id, endpoint_id, app_id, created_at)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            msg["id"],
            endpoint["id"],
            endpoint["app_id"],
            msg["created_at"],
        )
        rows = await store.reset_destinations(
            conn, "d.msg_id = $1 AND d.endpoint_id = $2", msg["id"], endpoint["id"]
        )
    await request.app[MESSAGES].publish_rows(rows)
    return {}


@routes.post(
    "/api/v1/app/{app_id}/endpoint/{endpoint_id}/recover",
    body=RecoverIn,
    response=RecoverOut,
    status=202,
    tag="Endpoint",
    headers=["idempotency-key"],
)
async def recover(request: web.Request, body: RecoverIn) -> RecoverOut:
    """Re-send every failed delivery to this endpoint in a time window, as manual attempts."""
    endpoint = await endpoint_or_404(request)
    until = body.until or datetime.now(UTC)
    pool = pool_of(request)
    task_id = new_id("qtask")
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.reset_destinations(
            conn,
            f"d.endpoint_id = $1 AND d.status = {MessageStatus.FAIL:d}"
            " AND d.created_at >= $2 AND d.created_at < $3",
            endpoint["id"],
            body.since,
            until,
        )
        task = await conn.fetchrow(
            "INSERT INTO background_task (id, task, status, data) VALUES ($1, 'endpoint.recover',"
            " 'finished', $2) RETURNING updated_at",
            task_id,
            {"endpointId": endpoint["id"], "recovered": len(rows)},
        )
    await request.app[MESSAGES].publish_rows(rows)
    return RecoverOut(id=task_id, status="finished", task="endpoint.recover", updated_at=task["updated_at"])
