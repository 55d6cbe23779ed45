"""Applications, and each application's endpoints with their health."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.keys import POOL
from services.ingest.store import endpoints as endpoint_store
from services.ingest.store.sql import Where, fetch_page
from services.ingest.ui.guard import page
from services.ingest.ui.health import endpoint_health
from services.ingest.ui.lookup import with_app
from services.ingest.ui.paging import page_links
from services.ingest.ui.render import render

routes = web.RouteTableDef()
PAGE_SIZE = 50

_APPS = """
SELECT * FROM (
    SELECT a.id, a.uid, a.name, a.created_at, count(e.id) AS endpoints,
        count(e.id) FILTER (WHERE e.disabled) AS disabled
    FROM application a LEFT JOIN endpoint e ON e.app_id = a.id GROUP BY a.id
) apps
"""


@routes.get("/ui/apps", name="ui.apps")
@page
async def list_apps(request: web.Request) -> web.Response:
    iterator = request.query.get("iterator") or None
    result = await fetch_page(
        request.app[POOL],
        select=_APPS,
        where=Where(),
        key="id",
        limit=PAGE_SIZE,
        iterator=iterator,
        descending=True,
    )
    links = page_links("/ui/apps", {}, result, iterator=iterator, limit=PAGE_SIZE)
    return render(request, "apps.html", {"nav": "apps", "apps": result.rows, "links": links})


@routes.get("/ui/apps/{app_id}", name="ui.app")
@page
@with_app
async def show_app(request: web.Request, app: asyncpg.Record) -> web.Response:
    pool = request.app[POOL]
    endpoints = await pool.fetch(
        f"SELECT {endpoint_store.COLUMNS} FROM endpoint WHERE app_id = $1 ORDER BY id LIMIT 500", app["id"]
    )
    health = await endpoint_health(pool, [e["id"] for e in endpoints])
    context = {"nav": "apps", "app": app, "endpoints": endpoints, "health": health}
    return render(request, "app.html", context)
