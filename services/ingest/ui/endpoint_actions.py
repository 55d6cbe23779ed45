"""What the buttons on an endpoint's page do: disable, enable, delete, secret, recover."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from services.ingest.api.endpoints import DEFAULT_GRACE_SECONDS
from services.ingest.keys import MESSAGES, POOL
from services.ingest.models.endpoints import RecoverIn
from services.ingest.store import endpoint_events as reported
from services.ingest.store import endpoints as store
from services.ingest.store import messages as message_store
from services.ingest.ui.endpoint_page import render_endpoint
from services.ingest.ui.guard import action, posted_text
from services.ingest.ui.lookup import endpoint_path, with_endpoint
from services.ingest.ui.render import see_other
from shared import signing
from shared.status import MessageStatus

routes = web.RouteTableDef()
ONE = "/ui/apps/{app_id}/endpoints/{endpoint_id}"
Row = asyncpg.Record


@routes.post(ONE + "/{change:disable|enable}")
@action
@with_endpoint
async def disable_or_enable(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    disabled = request.match_info["change"] == "disable"
    await reported.update(request.app[POOL], endpoint, {"disabled": disabled})
    return see_other(endpoint_path(endpoint), "endpoint-disabled" if disabled else "endpoint-enabled")


@routes.post(ONE + "/delete")
@action
@with_endpoint
async def delete(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    await reported.delete(request.app[POOL], endpoint)
    return see_other(f"/ui/apps/{app['id']}", "endpoint-deleted")


@routes.post(ONE + "/secret/reveal")
@action
@with_endpoint
async def reveal_secret(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    """Shown in the answer to a post, so the secret never sits in a URL or the history."""
    return await render_endpoint(request, app, endpoint, secret=signing.shown_secret(endpoint["secret"]))


@routes.post(ONE + "/secret/rotate")
@action
@with_endpoint
async def rotate_secret(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    await store.rotate_secret(request.app[POOL], endpoint, signing.new_secret(), DEFAULT_GRACE_SECONDS)
    return see_other(endpoint_path(endpoint), "secret-rotated")


def _recover_window(typed: str) -> RecoverIn:
    """The API's own model checks the window; the form's time is UTC, like the page's."""
    try:
        window = RecoverIn(since=datetime.fromisoformat(typed).replace(tzinfo=UTC))
    except (ValueError, ValidationError) as exc:
        raise ValueError("Enter the date and time to recover from, like 2024-05-01 09:30 (UTC).") from exc
    if window.since > datetime.now(UTC):
        raise ValueError("That time is in the future: nothing can have failed since then.")
    return window


@routes.post(ONE + "/recover")
@action
@with_endpoint
async def recover(request: web.Request, app: Row, endpoint: Row) -> web.Response:
    """Send every failed delivery since a time again, as manual attempts."""
    typed = posted_text(request, "since")
    try:
        window = _recover_window(typed)
    except ValueError as exc:
        return await render_endpoint(
            request, app, endpoint, recover_since=typed, recover_error=str(exc), status=422
        )
    pool = request.app[POOL]
    async with pool.acquire() as conn, conn.transaction():
        rows = await message_store.reset_destinations(
            conn,
            f"d.endpoint_id = $1 AND d.status = {MessageStatus.FAIL:d} AND d.created_at >= $2",
            endpoint["id"],
            window.since,
        )
    await request.app[MESSAGES].publish_rows(rows)
    return see_other(endpoint_path(endpoint), "recovered", count=len(rows))
