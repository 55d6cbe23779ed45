"""Health and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from services.ingest.keys import BROKER_LINK, POOL
from shared.web.errors import ServiceUnavailable
from shared.web.routes import ApiRoutes

routes = ApiRoutes()


@routes.get("/api/v1/health", public=True, status=204, tag="Health")
async def health(request: web.Request) -> None:
    """Svix's health check: 204 while the database answers."""
    try:
        await request.app[POOL].fetchval("SELECT 1")
    except Exception as exc:
        raise ServiceUnavailable("database unavailable") from exc


@routes.get("/api/v1/health/ping", public=True, status=204, tag="Health")
async def ping(request: web.Request) -> None:
    """Svix's liveness ping: the process answers (no dependency is checked)."""


@routes.route("HEAD", "/api/v1/health/ping", public=True, status=204, tag="Health")
async def ping_head(request: web.Request) -> None:
    """The ping as HEAD, as Svix answers it (aiohttp's GET routes do not take HEAD)."""


@routes.get("/healthz", public=True, status=204, tag="Health")
async def liveness(request: web.Request) -> None:
    """Liveness: the process serves requests (dependencies are readiness's business)."""


@routes.get("/readyz", public=True, status=204, tag="Health")
async def readiness(request: web.Request) -> None:
    """Readiness: the database answers, and the broker was reached once since the start
    (topology declared, AMQP ingest consuming). A later broker outage does not make ingest
    unready: what it accepts meanwhile is committed to the outbox and published when the
    broker is back, and every replica shares the broker, so taking them all out of the
    Service would only turn that outage into refused requests."""
    try:
        await request.app[POOL].fetchval("SELECT 1")
    except Exception as exc:
        raise ServiceUnavailable("database unavailable") from exc
    if not request.app[BROKER_LINK].ready.is_set():
        raise ServiceUnavailable("broker not reached yet")
