"""The overview page: deliveries per minute, queue depths, failing endpoints, waiting."""

from __future__ import annotations

from aiohttp import web

from services.ingest.keys import POOL
from services.ingest.ui.chart import build_chart
from services.ingest.ui.guard import page
from services.ingest.ui.health import failing_endpoints
from services.ingest.ui.keys import QUEUES
from services.ingest.ui.overview_data import deliveries_per_minute, waiting
from services.ingest.ui.render import render, see_other

routes = web.RouteTableDef()


@routes.get("/ui")
async def to_overview(request: web.Request) -> web.Response:
    return see_other("/ui/")


@routes.get("/ui/", name="ui.overview")
@page
async def overview(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    context = {
        "nav": "overview",
        "chart": build_chart(await deliveries_per_minute(pool)),
        "queues": await request.app[QUEUES].depths(),
        "failing": await failing_endpoints(pool),
        "waiting": await waiting(pool),
    }
    return render(request, "overview.html", context)
