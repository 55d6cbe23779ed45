"""The message log, filtered and paginated, live while it shows the newest page."""

from __future__ import annotations

from aiohttp import web

from services.ingest.keys import POOL
from services.ingest.ui.event_types import catalogue_names
from services.ingest.ui.guard import page
from services.ingest.ui.keys import VISIT
from services.ingest.ui.message_log import PAGE_SIZE, STATUSES, LogFilters, read_page
from services.ingest.ui.paging import page_links
from services.ingest.ui.render import render

routes = web.RouteTableDef()


@routes.get("/ui/messages", name="ui.messages")
@page
async def message_log(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    filters = LogFilters.from_query(request.query)
    iterator = request.query.get("iterator") or None
    rows, links = [], None
    where = None if filters.errors else await filters.where(pool)
    if where is not None:
        result, rows = await read_page(pool, where, iterator)
        links = page_links("/ui/messages", filters.as_query(), result, iterator=iterator, limit=PAGE_SIZE)
    context = {
        "nav": "messages",
        "filters": filters,
        "filtered": any(filters.as_query().values()),
        "rows": rows,
        "links": links,
        "statuses": STATUSES,
        "apps": await _apps(request),
        "event_type_names": await catalogue_names(pool),
        "live": iterator is None,
    }
    return render(request, "messages.html", context)


async def _apps(request: web.Request) -> list:
    """The filter's choice of applications: an app portal visitor's own only."""
    portal_app = request[VISIT].portal_app
    if portal_app is not None:
        return await request.app[POOL].fetch("SELECT id, name FROM application WHERE id = $1", portal_app)
    return await request.app[POOL].fetch("SELECT id, name FROM application ORDER BY name, id LIMIT 500")
