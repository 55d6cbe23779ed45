"""The overview page: deliveries per minute, queue depths, failing endpoints, waiting."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from services.ingest.ui.chart import build_chart
from services.ingest.ui.guard import page
from services.ingest.ui.health import failing_endpoints
from services.ingest.ui.keys import CIRCUITS, FIGURES, QUEUES
from services.ingest.ui.overview_data import deliveries_per_minute, waiting
from services.ingest.ui.render import is_live_refresh, render, see_other

routes = web.RouteTableDef()


@routes.get("/ui")
async def to_overview(request: web.Request) -> web.Response:
    return see_other("/ui/")


async def overview_figures(pool: asyncpg.Pool) -> dict[str, Any]:
    return {
        "chart": build_chart(await deliveries_per_minute(pool)),
        "failing": await failing_endpoints(pool),
        "waiting": await waiting(pool),
    }


@routes.get("/ui/", name="ui.overview")
@page
async def overview(request: web.Request) -> web.Response:
    fresh = not is_live_refresh(request)
    context = {
        "nav": "overview",
        **await request.app[FIGURES].get(fresh=fresh),
        "queues": await request.app[QUEUES].depths(fresh=fresh),
        "open_circuits": await request.app[CIRCUITS].open_circuits(fresh=fresh),
        "circuits_url": request.app[CIRCUITS].url,
    }
    return render(request, "overview.html", context)
