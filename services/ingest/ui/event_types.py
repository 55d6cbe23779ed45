"""The event type catalogue."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from services.ingest.api.event_types import COLUMNS
from services.ingest.keys import POOL
from services.ingest.ui.guard import page
from services.ingest.ui.render import render

routes = web.RouteTableDef()


async def catalogue_names(pool: asyncpg.Pool) -> list[str]:
    return [
        r["name"] for r in await pool.fetch("SELECT name FROM event_type WHERE NOT archived ORDER BY name")
    ]


@routes.get("/ui/event-types", name="ui.event_types")
@page
async def list_event_types(request: web.Request) -> web.Response:
    archived = request.query.get("archived") == "1"
    rows = await request.app[POOL].fetch(
        f"SELECT {COLUMNS} FROM event_type WHERE $1 OR NOT archived ORDER BY group_name NULLS FIRST, name",
        archived,
    )
    context = {"nav": "event-types", "event_types": rows, "archived": archived}
    return render(request, "event_types.html", context)
