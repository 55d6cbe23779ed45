"""Messages: ``/api/v1/app/{app_id}/msg``."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson
from aiohttp import web

from services.ingest.api import expunge
from services.ingest.api.common import app_or_404, message_or_404, pool_of
from services.ingest.keys import MESSAGES
from services.ingest.models.common import ListResponse
from services.ingest.models.messages import (
    CreateMessageQuery,
    GetMessageQuery,
    MessageIn,
    MessageListQuery,
    MessageOut,
)
from services.ingest.store import messages as store
from services.ingest.store.sql import Where, fetch_page
from shared.ids import boundary_id
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Message"


def message_out(row: asyncpg.Record, with_content: bool = True) -> MessageOut:
    return MessageOut(
        event_id=row["event_id"],
        event_type=row["event_type"],
        payload=orjson.loads(row["payload"]) if with_content else {},
        channels=row["channels"],
        id=row["id"],
        timestamp=row["created_at"],
        tags=row["tags"],
    )


def add_time_filters(
    where: Where, column: str, prefix: str, before: datetime | None, after: datetime | None
) -> None:
    """``before``/``after`` as bounds on the time-sortable id, so the id index serves them."""
    if before is not None:
        where.add(f"{column} < {{}}", boundary_id(prefix, before.timestamp()))
    if after is not None:
        where.add(f"{column} > {{}}", boundary_id(prefix, after.timestamp()))


@routes.post(
    "/api/v1/app/{app_id}/msg",
    body=MessageIn,
    query=CreateMessageQuery,
    response=MessageOut,
    status=202,
    tag=TAG,
    headers=["idempotency-key"],
    own_idempotency=True,
)
async def create_message(request: web.Request, body: MessageIn, query: CreateMessageQuery) -> web.Response:
    """Send a message to every endpoint of the application subscribed to its type."""
    key = request.headers.get("idempotency-key")
    accepted = await request.app[MESSAGES].create(
        request.match_info["app_id"],
        body,
        idempotency_scope=f"POST {request.path}" if key else None,
        idempotency_key=key,
        with_content=query.with_content,
    )
    return web.Response(body=accepted.body, status=accepted.status, content_type="application/json")


@routes.get("/api/v1/app/{app_id}/msg", query=MessageListQuery, response=ListResponse[MessageOut], tag=TAG)
async def list_messages(request: web.Request, query: MessageListQuery) -> ListResponse[MessageOut]:
    """List an application's messages, newest first."""
    app = await app_or_404(request)
    where = Where().add("app_id = {}", app["id"])
    if query.channel:
        where.add("{} = ANY(channels)", query.channel)
    if query.tag:
        where.add("{} = ANY(tags)", query.tag)
    if query.event_types:
        where.add("event_type = ANY({})", query.event_types)
    add_time_filters(where, "id", "msg", query.before, query.after)
    page = await fetch_page(
        pool_of(request),
        select=f"SELECT {store.MESSAGE_COLUMNS} FROM message",
        where=where,
        key="id",
        limit=query.limit,
        iterator=query.iterator,
        descending=True,
    )
    return ListResponse[MessageOut](
        data=[message_out(r, query.with_content) for r in page.rows],
        iterator=page.iterator,
        prev_iterator=page.prev_iterator,
        done=page.done,
    )


@routes.get("/api/v1/app/{app_id}/msg/{msg_id}", query=GetMessageQuery, response=MessageOut, tag=TAG)
async def get_message(request: web.Request, query: GetMessageQuery) -> MessageOut:
    """Get a message by id or by its eventId."""
    app = await app_or_404(request)
    row = await message_or_404(request, app["id"])
    return message_out(row, query.with_content)


# Installed with the message routes (install_routes puts those first): the same paths.
routes.extend(expunge.routes)
