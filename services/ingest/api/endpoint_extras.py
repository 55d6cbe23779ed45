"""The endpoint and attempt routes of the Svix API beyond the core ones (issue 19):
``send-example``, ``replay-missing``, ``attempt-stats`` and expunging one attempt's
response body, as the ``svix`` SDK calls them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiohttp import web

from services.ingest.api.common import app_or_404, endpoint_or_404, message_or_404, pool_of
from services.ingest.keys import MESSAGES
from services.ingest.models.extras import (
    AttemptStatsQuery,
    BackgroundTaskRef,
    EndpointAttemptStats,
    EventExampleIn,
    ReplayIn,
)
from services.ingest.models.messages import MessageOut
from services.ingest.schema_validation import newest_version
from services.ingest.store import extras as store
from services.ingest.store import messages as message_store
from shared.ids import new_id
from shared.routing import EndpointFilter, endpoint_matches
from shared.web.errors import NotFound
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
log = structlog.get_logger()
ONE = "/api/v1/app/{app_id}/endpoint/{endpoint_id}"


def example_payload(schemas: dict[str, Any] | None, index: int) -> dict[str, Any]:
    """The newest schema's ``examples[index]`` (the first when out of range), else its
    ``example``, else ``{}``: what Svix sends for a type without examples."""
    newest = newest_version(schemas)
    schema = newest[1] if newest and isinstance(newest[1], dict) else {}
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        chosen = examples[index] if index < len(examples) else examples[0]
        if isinstance(chosen, dict):
            return chosen
    return schema["example"] if isinstance(schema.get("example"), dict) else {}


@routes.post(
    ONE + "/send-example",
    body=EventExampleIn,
    response=MessageOut,
    tag="Endpoint",
    headers=["idempotency-key"],
)
async def send_example(request: web.Request, body: EventExampleIn) -> MessageOut:
    """Send an example message of an event type to this endpoint only."""
    endpoint = await endpoint_or_404(request)
    pool = pool_of(request)
    event_type = await pool.fetchrow("SELECT schemas FROM event_type WHERE name = $1", body.event_type)
    if event_type is None:
        raise NotFound("Event type not found")
    schemas = event_type["schemas"]
    payload = body.payload if body.payload is not None else example_payload(schemas, body.example_index)
    created_at = datetime.now(UTC)
    msg_id = new_id("msg", created_at.timestamp())
    app_id, ep_id = endpoint["app_id"], endpoint["id"]
    async with pool.acquire() as conn, conn.transaction():
        await store.insert_message(
            conn, msg_id, app_id, body.event_type, orjson.dumps(payload).decode(), created_at
        )
        await store.add_destinations(conn, app_id, ep_id, [msg_id])
        rows = await message_store.reset_destinations(
            conn, "d.msg_id = $1 AND d.endpoint_id = $2", msg_id, ep_id
        )
    await request.app[MESSAGES].publish_rows(rows)
    log.info("example message sent", app_id=app_id, endpoint_id=ep_id, msg_id=msg_id)
    return MessageOut(
        event_id=None,
        event_type=body.event_type,
        payload=payload,
        channels=None,
        id=msg_id,
        timestamp=created_at,
        tags=None,
    )


@routes.post(
    ONE + "/replay-missing",
    body=ReplayIn,
    response=BackgroundTaskRef,
    status=202,
    tag="Endpoint",
    headers=["idempotency-key"],
)
async def replay_missing(request: web.Request, body: ReplayIn) -> BackgroundTaskRef:
    """Send this endpoint the messages since ``since`` it would have received but never
    did (created before it existed or subscribed); those it already had are not resent."""
    endpoint = await endpoint_or_404(request)
    until = body.until or datetime.now(UTC)
    ep = EndpointFilter(endpoint["id"], False, endpoint["event_types"], endpoint["channels"])
    pool = pool_of(request)
    async with pool.acquire() as conn, conn.transaction():
        found = await store.missing_messages(conn, endpoint["app_id"], ep.id, body.since, until)
        ids = [r["id"] for r in found if endpoint_matches(ep, r["event_type"], r["channels"])]
        await store.add_destinations(conn, endpoint["app_id"], ep.id, ids)
        rows = await message_store.reset_destinations(
            conn, "d.msg_id = ANY($1::text[]) AND d.endpoint_id = $2", ids, ep.id
        )
        task = await store.finished_task(
            conn, new_id("qtask"), "endpoint.replay", {"messagesSent": len(rows)}
        )
    await request.app[MESSAGES].publish_rows(rows)
    log.info("missing messages replayed", endpoint_id=ep.id, count=len(rows))
    return BackgroundTaskRef.model_validate(dict(task))


@routes.get(ONE + "/attempt-stats", query=AttemptStatsQuery, response=EndpointAttemptStats, tag="Endpoint")
async def get_attempt_stats(request: web.Request, query: AttemptStatsQuery) -> EndpointAttemptStats:
    """This endpoint's attempts by outcome in the window (all time without one)."""
    endpoint = await endpoint_or_404(request)
    counts = await store.attempt_stats(pool_of(request), endpoint["id"], query.since, query.until)
    return EndpointAttemptStats(**counts)


@routes.delete("/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", tag="Message Attempt")
async def expunge_attempt_content(request: web.Request) -> None:
    """Delete one attempt's response body (a receiver that answered with something
    sensitive); it then reads ``EXPUNGED``, as after a message expunge."""
    app = await app_or_404(request)
    msg = await message_or_404(request, app["id"])
    if not await store.expunge_attempt(
        pool_of(request), app["id"], msg["id"], request.match_info["attempt_id"]
    ):
        raise NotFound("Message attempt not found")
    log.info("attempt response expunged", app_id=app["id"], msg_id=msg["id"])
