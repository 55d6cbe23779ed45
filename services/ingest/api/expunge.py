"""Expunging message payloads: ``/api/v1/app/{app_id}/msg/.../content``, ``bulk-expunge``
and ``expunge-all-contents``, as the ``svix`` SDK calls them.

An expunged message stays listed and keeps its deliveries; its payload reads back as
Svix's ``{"expired": true}`` and its attempts' response bodies as ``EXPUNGED``. It can't
be resent. Deliveries the broker never confirmed are canceled; those already handed to
the broker still carry the original payload and are delivered.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from services.ingest.api.common import app_or_404, message_or_404, pool_of
from services.ingest.models.expunge import (
    BulkExpungeContentsIn,
    BulkExpungeContentsOut,
    BulkExpungeStatus,
    ExpungeAllContentsOut,
)
from services.ingest.store import messages as store
from shared.ids import new_id
from shared.web.routes import ApiRoutes

routes = ApiRoutes()
TAG = "Message"
log = structlog.get_logger()
# Messages per transaction when expunging a whole application: short row locks.
_BATCH = 500


@routes.delete("/api/v1/app/{app_id}/msg/{msg_id}/content", tag=TAG)
async def expunge_content(request: web.Request) -> None:
    """Delete a message's payload (and its attempts' response bodies); the message stays."""
    app = await app_or_404(request)
    msg = await message_or_404(request, app["id"])
    await store.expunge(pool_of(request), app["id"], [msg["id"]])
    log.info("message payload expunged", app_id=app["id"], msg_id=msg["id"])


@routes.post(
    "/api/v1/app/{app_id}/msg/bulk-expunge",
    body=BulkExpungeContentsIn,
    response=BulkExpungeContentsOut,
    tag=TAG,
    headers=["idempotency-key"],
)
async def bulk_expunge_content(request: web.Request, body: BulkExpungeContentsIn) -> BulkExpungeContentsOut:
    """Delete the payloads of up to 250 messages (ids or eventIds) of the application."""
    app = await app_or_404(request)
    rows = await store.expunge(pool_of(request), app["id"], body.ids)
    done = {r["id"] for r in rows} | {r["event_id"] for r in rows if r["event_id"]}
    log.info("message payloads expunged", app_id=app["id"], count=len(rows))
    return BulkExpungeContentsOut(
        results={
            ref: BulkExpungeStatus.expunged if ref in done else BulkExpungeStatus.not_found
            for ref in body.ids
        }
    )


@routes.post(
    "/api/v1/app/{app_id}/msg/expunge-all-contents",
    response=ExpungeAllContentsOut,
    status=202,
    tag=TAG,
    headers=["idempotency-key"],
)
async def expunge_all_contents(request: web.Request) -> ExpungeAllContentsOut:
    """Delete every message payload of the application, in batches; answered when done."""
    app = await app_or_404(request)
    pool = pool_of(request)
    after: str | None = ""
    purged = 0
    while after is not None:
        async with pool.acquire() as conn, conn.transaction():
            after, count = await store.expunge_batch(conn, app["id"], after, _BATCH)
        purged += count
    task_id = new_id("qtask")
    task = await pool.fetchrow(
        "INSERT INTO background_task (id, task, status, data) VALUES ($1, 'application.purge_content',"
        " 'finished', $2) RETURNING updated_at",
        task_id,
        {"appId": app["id"], "messagesPurged": purged},
    )
    log.info("application payloads expunged", app_id=app["id"], count=purged)
    return ExpungeAllContentsOut(
        id=task_id, status="finished", task="application.purge_content", updated_at=task["updated_at"]
    )
