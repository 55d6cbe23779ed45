"""One message: its payload (or that it was expunged), every destination with its
attempts, and Resend."""

from __future__ import annotations

from collections import defaultdict

import asyncpg
from aiohttp import web

from services.ingest.api.attempts import ATTEMPT_SELECT
from services.ingest.keys import MESSAGES, POOL
from services.ingest.store import messages as store
from services.ingest.ui.guard import action, page
from services.ingest.ui.lookup import with_message
from services.ingest.ui.render import not_found, render, see_other

routes = web.RouteTableDef()
ONE = "/ui/apps/{app_id}/messages/{msg_id}"

_DESTINATIONS = """
SELECT e.id, e.url, e.description, e.disabled, d.status, d.attempt_count, d.next_attempt, d.updated_at
FROM message_destination d JOIN endpoint e ON e.id = d.endpoint_id
WHERE d.msg_id = $1 ORDER BY e.id
"""


@routes.get(ONE, name="ui.message")
@page
@with_message
async def show_message(request: web.Request, app: asyncpg.Record, message: asyncpg.Record) -> web.Response:
    pool = request.app[POOL]
    attempts = defaultdict(list)
    for row in await pool.fetch(
        ATTEMPT_SELECT + " WHERE a.msg_id = $1 ORDER BY a.id DESC LIMIT 1000", message["id"]
    ):
        attempts[row["endpoint_id"]].append(row)
    context = {
        "nav": "messages",
        "app": app,
        "message": message,
        "destinations": await pool.fetch(_DESTINATIONS, message["id"]),
        "attempts": attempts,
    }
    return render(request, "message.html", context)


@routes.post(ONE + "/resend/{endpoint_id}")
@action
@with_message
async def resend(request: web.Request, app: asyncpg.Record, message: asyncpg.Record) -> web.Response:
    """Send the message to one of its endpoints again, as a manual attempt."""
    if message["expunged_at"] is not None:
        text = "This message's payload was expunged: it can't be resent."
        return render(request, "error.html", {"title": "Can't resend", "message": text}, 409)
    pool = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.reset_destinations(
            conn, "d.msg_id = $1 AND d.endpoint_id = $2", message["id"], request.match_info["endpoint_id"]
        )
    if not rows:
        return not_found(request, "A delivery of this message to that endpoint")
    await request.app[MESSAGES].publish_rows(rows)
    return see_other(f"/ui/apps/{app['id']}/messages/{message['id']}", "resent")
