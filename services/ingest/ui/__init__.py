"""The dashboard, served by ingest under ``/ui/`` (see docs/dashboard.md).

Server-rendered pages with a little plain JavaScript for live updates; everything it
needs is served from ``static/``. It has its own cookie session, so ingest's bearer
check lets ``/ui`` paths through (``is_ui_path``) and the pages check the cookie.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.ingest.keys import POOL, SETTINGS
from services.ingest.ui import (
    applications,
    endpoint_actions,
    endpoint_edit,
    endpoint_page,
    event_types,
    login,
    message_page,
    messages,
    overview,
    portal,
)
from services.ingest.ui.cached import Cached
from services.ingest.ui.circuits import CircuitReport
from services.ingest.ui.config import DashboardSettings
from services.ingest.ui.guard import page
from services.ingest.ui.keys import CIRCUITS, FIGURES, LIVE, QUEUES, SIGNER
from services.ingest.ui.live import LiveFeed, stream
from services.ingest.ui.overview import overview_figures
from services.ingest.ui.queues import QueueProbe
from services.ingest.ui.render import not_found, setup_templates
from services.ingest.ui.session import SessionSigner
from shared.topology import Topology

STATIC = Path(__file__).parent / "static"


def is_ui_path(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


@page
async def live(request: web.Request) -> web.StreamResponse:
    return await stream(request, request.app[LIVE])


@page
async def unknown_page(request: web.Request) -> web.Response:
    return not_found(request, "This page")


def _resources(dashboard: DashboardSettings):  # type: ignore[no-untyped-def]
    async def open_and_close(app: web.Application) -> AsyncIterator[None]:
        """Runs after ingest's own resources (the pool) are open, and closes before them."""
        settings, pool = app[SETTINGS], app[POOL]
        cache = dashboard.figures_cache_seconds
        topology = Topology.of(settings)
        metrics_url = (
            dashboard.dispatcher_metrics_url or f"http://127.0.0.1:{settings.dispatcher_port}/metrics"
        )
        app[QUEUES] = QueueProbe(str(settings.amqp_url), topology, cache_seconds=cache)
        app[CIRCUITS] = CircuitReport(metrics_url, cache_seconds=cache, token=settings.metrics_token)
        app[FIGURES] = Cached(lambda: overview_figures(pool), cache)
        app[LIVE] = LiveFeed(pool)
        yield
        await app[LIVE].close()
        await app[CIRCUITS].close()
        await app[QUEUES].close()

    return open_and_close


async def _end_live_streams(app: web.Application) -> None:
    if LIVE in app:
        await app[LIVE].close()


def install_ui(app: web.Application, dashboard: DashboardSettings | None = None) -> None:
    app[SIGNER] = SessionSigner(app[SETTINGS].api_token)
    setup_templates(app)
    # endpoint_edit first: its ".../endpoints/new" must win over ".../endpoints/{endpoint_id}".
    modules = (login, overview, applications, endpoint_edit, endpoint_page, endpoint_actions)
    for module in (*modules, messages, message_page, event_types, portal):
        app.router.add_routes(module.routes)
    app.router.add_get("/ui/live", live, name="ui.live")
    app.router.add_static("/ui/static", STATIC, name="ui.static")
    app.router.add_get("/ui/{tail:.*}", unknown_page)
    app.cleanup_ctx.append(_resources(dashboard or DashboardSettings()))
    # Open event streams would hold a graceful shutdown for its whole timeout.
    app.on_shutdown.append(_end_live_streams)
