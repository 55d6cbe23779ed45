"""An endpoint's page: settings, delivery stats, its attempts, recover and secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web

from services.ingest.api.attempts import ATTEMPT_SELECT
from services.ingest.keys import POOL
from services.ingest.store import endpoints as store
from services.ingest.store.sql import Where, fetch_page
from services.ingest.ui.endpoint_form import is_sensitive
from services.ingest.ui.guard import page
from services.ingest.ui.health import endpoint_health
from services.ingest.ui.lookup import with_endpoint
from services.ingest.ui.paging import page_links
from services.ingest.ui.render import render

routes = web.RouteTableDef()
PAGE_SIZE = 25


def default_recover_since(now: datetime | None = None) -> str:
    """A day back, as a ``datetime-local`` value (minutes, UTC)."""
    return ((now or datetime.now(UTC)) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")


async def render_endpoint(
    request: web.Request,
    app: asyncpg.Record,
    endpoint: asyncpg.Record,
    *,
    secret: str | None = None,
    recover_since: str | None = None,
    recover_error: str | None = None,
    status: int = 200,
) -> web.Response:
    pool = request.app[POOL]
    now = datetime.now(UTC)
    iterator = request.query.get("iterator") or None
    attempts = await fetch_page(
        pool,
        select=ATTEMPT_SELECT,
        where=Where().add("a.endpoint_id = {}", endpoint["id"]),
        key="a.id",
        limit=PAGE_SIZE,
        iterator=iterator,
        descending=True,
    )
    context = {
        "nav": "apps",
        "app": app,
        "endpoint": endpoint,
        "headers": {k: ("(hidden)" if is_sensitive(k) else v) for k, v in endpoint["headers"].items()},
        "health": (await endpoint_health(pool, [endpoint["id"]]))[endpoint["id"]],
        "stats_24h": await store.stats(pool, endpoint["id"], now - timedelta(days=1), now),
        "stats_all": await store.stats(pool, endpoint["id"], None, now),
        "attempts": attempts.rows,
        "links": page_links(request.path, {}, attempts, iterator=iterator, limit=PAGE_SIZE),
        "secret": secret,
        "recover_since": recover_since or default_recover_since(now),
        "recover_error": recover_error,
    }
    return render(request, "endpoint.html", context, status)


@routes.get("/ui/apps/{app_id}/endpoints/{endpoint_id}", name="ui.endpoint")
@page
@with_endpoint
async def show_endpoint(request: web.Request, app: asyncpg.Record, endpoint: asyncpg.Record) -> web.Response:
    return await render_endpoint(request, app, endpoint)
